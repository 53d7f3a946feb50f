import { describe, expect, it } from '@jest/globals';
import { firstNames } from '../src';

describe('firstNames', () => {
  it('labels every name on one list only, and leaves out the names on both', () => {
    const names = firstNames();
    const female = names.filter((n) => n.label === 'female');
    const male = names.filter((n) => n.label === 'male');
    expect(female).toHaveLength(4_525);
    expect(male).toHaveLength(3_478);
    expect(new Set(names.map((n) => n.name)).size).toBe(names.length);
    expect(names).toContainEqual({ name: 'Aaren', label: 'female' });
    expect(names).toContainEqual({ name: 'Aaron', label: 'male' });
    expect(names.find((n) => n.name === 'Abbe')).toBeUndefined();
  });
});
