const VOCAB: Record<string, string[]> = {
  ham: ['meeting', 'agenda', 'report', 'lunch', 'project', 'review', 'notes', 'team'],
  spam: ['winner', 'prize', 'free', 'cash', 'offer', 'click', 'claim', 'bonus'],
  other: ['weather', 'rain', 'sunny', 'forecast', 'storm', 'wind', 'cloud', 'snow'],
};

/**
 * Short labelled texts, perClass of each class (ham, spam, other), six words each and mostly the
 * class's own words, drawn from `rand` (a seeded generator, e.g. @hitl/model's mulberry32), so a
 * seed gives the same texts every time.
 */
export function classTexts(
  classes: readonly string[],
  perClass: number,
  rand: () => number,
): { text: string; label: string }[] {
  const out: { text: string; label: string }[] = [];
  for (let i = 0; i < perClass; i++) {
    for (const label of classes) {
      const words = Array.from({ length: 6 }, () => {
        const pool = rand() < 0.7 ? VOCAB[label]! : VOCAB[classes[Math.floor(rand() * classes.length)]!]!;
        return pool[Math.floor(rand() * pool.length)]!;
      });
      out.push({ text: words.join(' '), label });
    }
  }
  return out;
}
