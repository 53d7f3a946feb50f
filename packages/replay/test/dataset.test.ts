// Reading labelled files: each format, each refusal, and the seeded shuffle.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DatasetError,
  DatasetErrorCode,
  loadLabelledFile,
  parseCsv,
  shuffled,
  type LabelledFileOptions,
} from '../src';

let dir: string;
let files = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hitl-replay-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(ext: string, content: string): Promise<string> {
  const path = join(dir, `data-${files++}.${ext}`);
  await writeFile(path, content);
  return path;
}

async function refusal(ext: string, content: string, opts: LabelledFileOptions): Promise<DatasetError> {
  const error = await loadLabelledFile(await file(ext, content), opts).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DatasetError);
  return error as DatasetError;
}

describe('loadLabelledFile', () => {
  it('reads text from JSONL, with ids from a field or the line number', async () => {
    const path = await file(
      'jsonl',
      ['{"id":"a","text":"win money","y":"spam"}', '', '{"id":"b","text":"lunch?","y":"ham"}', ''].join('\n'),
    );
    expect(await loadLabelledFile(path, { labelField: 'y', textField: 'text', idField: 'id' })).toEqual([
      { id: 'a', label: 'spam', input: { text: 'win money' } },
      { id: 'b', label: 'ham', input: { text: 'lunch?' } },
    ]);
    const byLine = await loadLabelledFile(path, { labelField: 'y', textField: 'text' });
    expect(byLine.map((i) => i.id)).toEqual(['1', '3']);
  });

  it('reads a features array from JSONL, with numeric labels as strings', async () => {
    const path = await file('jsonl', '{"f":[1,2.5,-3],"class":0}\n{"f":[0,0,1e3],"class":1}\n');
    expect(await loadLabelledFile(path, { labelField: 'class', featuresField: 'f' })).toEqual([
      { id: '1', label: '0', input: { features: [1, 2.5, -3] } },
      { id: '2', label: '1', input: { features: [0, 0, 1000] } },
    ]);
  });

  it('reads named numeric fields from JSONL as features', async () => {
    const path = await file('jsonl', '{"a":1,"b":"2","y":"x"}\n{"a":3,"b":4,"y":"z"}\n');
    const items = await loadLabelledFile(path, { labelField: 'y', featureColumns: ['b', 'a'] });
    expect(items.map((i) => i.input)).toEqual([{ features: [2, 1] }, { features: [4, 3] }]);
  });

  it('reads CSV feature columns in the order asked for', async () => {
    const path = await file('csv', 'id,x1,x2,species\r\nr1,5.1,3.5,setosa\r\nr2,7,3.2,versicolor\r\n');
    expect(
      await loadLabelledFile(path, { labelField: 'species', featureColumns: ['x2', 'x1'], idField: 'id' }),
    ).toEqual([
      { id: 'r1', label: 'setosa', input: { features: [3.5, 5.1] } },
      { id: 'r2', label: 'versicolor', input: { features: [3.2, 7] } },
    ]);
  });

  it('reads quoted CSV text with commas, line breaks and doubled quotes, numbering rows by their first line', async () => {
    const csv = [
      'label,text',
      'spam,"Win, win, win!"',
      'ham,"Dear Bob,',
      'see you at ""the usual"" place."',
      'spam,plain text',
    ].join('\n');
    const items = await loadLabelledFile(await file('csv', csv), { labelField: 'label', textField: 'text' });
    expect(items).toEqual([
      { id: '2', label: 'spam', input: { text: 'Win, win, win!' } },
      { id: '3', label: 'ham', input: { text: 'Dear Bob,\nsee you at "the usual" place.' } },
      { id: '5', label: 'spam', input: { text: 'plain text' } },
    ]);
  });

  it('takes the format from the option over the extension', async () => {
    const path = await file('txt', 'label,text\na,x\nb,y\n');
    expect(
      await loadLabelledFile(path, { format: 'csv', labelField: 'label', textField: 'text' }),
    ).toHaveLength(2);
  });

  describe('refuses', () => {
    const text = { labelField: 'y', textField: 't' };

    it('an unknown extension', async () => {
      expect((await refusal('txt', '', text)).code).toBe(DatasetErrorCode.format);
    });

    it('a JSONL line that is not a JSON object', async () => {
      const bad = await refusal('jsonl', '{"t":"a","y":"x"}\n{"t":\n', text);
      expect([bad.code, bad.line]).toEqual([DatasetErrorCode.format, 2]);
      expect(bad.message).toMatch(/^line 2: /);
      const array = await refusal('jsonl', '[1,2]\n', text);
      expect([array.code, array.line]).toEqual([DatasetErrorCode.format, 1]);
    });

    it('a missing label', async () => {
      const e = await refusal('jsonl', '{"t":"a","y":"x"}\n{"t":"b"}\n{"t":"c","y":"z"}\n', text);
      expect([e.code, e.line]).toEqual([DatasetErrorCode.field, 2]);
      expect(e.message).toContain('"y"');
    });

    it('an empty CSV label', async () => {
      const e = await refusal('csv', 'y,t\nx,a\n,b\n', text);
      expect([e.code, e.line]).toEqual([DatasetErrorCode.field, 3]);
    });

    it('missing text', async () => {
      const e = await refusal('jsonl', '{"t":"a","y":"x"}\n{"t":"","y":"z"}\n', text);
      expect([e.code, e.line]).toEqual([DatasetErrorCode.field, 2]);
    });

    it('a missing features array', async () => {
      const e = await refusal('jsonl', '{"f":[1],"y":"x"}\n{"y":"z"}\n', {
        labelField: 'y',
        featuresField: 'f',
      });
      expect([e.code, e.line]).toEqual([DatasetErrorCode.field, 2]);
    });

    it('a missing feature column', async () => {
      const e = await refusal('jsonl', '{"a":1,"y":"x"}\n{"y":"z"}\n', {
        labelField: 'y',
        featureColumns: ['a'],
      });
      expect([e.code, e.line]).toEqual([DatasetErrorCode.field, 2]);
    });

    it('non-finite numbers', async () => {
      const csv = await refusal('csv', 'a,y\n1,x\nNaN,z\n', { labelField: 'y', featureColumns: ['a'] });
      expect([csv.code, csv.line]).toEqual([DatasetErrorCode.field, 3]);
      const word = await refusal('csv', 'a,y\nabc,x\n2,z\n', { labelField: 'y', featureColumns: ['a'] });
      expect([word.code, word.line]).toEqual([DatasetErrorCode.field, 2]);
      const inArray = await refusal('jsonl', '{"f":[1,"2"],"y":"x"}\n', {
        labelField: 'y',
        featuresField: 'f',
      });
      expect([inArray.code, inArray.line]).toEqual([DatasetErrorCode.field, 1]);
      const huge = await refusal('jsonl', '{"f":[1e999],"y":"x"}\n', { labelField: 'y', featuresField: 'f' });
      expect([huge.code, huge.line]).toEqual([DatasetErrorCode.field, 1]);
    });

    it('feature vectors of different widths', async () => {
      const e = await refusal('jsonl', '{"f":[1,2],"y":"x"}\n{"f":[1,2],"y":"z"}\n{"f":[3],"y":"x"}\n', {
        labelField: 'y',
        featuresField: 'f',
      });
      expect([e.code, e.line]).toEqual([DatasetErrorCode.width, 3]);
    });

    it('fewer than two classes', async () => {
      const one = await refusal('jsonl', '{"t":"a","y":"x"}\n{"t":"b","y":"x"}\n', text);
      expect(one.code).toBe(DatasetErrorCode.classes);
      const none = await refusal('csv', 'y,t\n', text);
      expect(none.code).toBe(DatasetErrorCode.classes);
    });

    it('a CSV row with the wrong number of cells', async () => {
      const e = await refusal('csv', 'y,t\nx,a\nz,b,extra\n', text);
      expect([e.code, e.line]).toEqual([DatasetErrorCode.format, 3]);
    });

    it('an unclosed quote and text after a closing quote', async () => {
      const open = await refusal('csv', 'y,t\nx,a\nz,"never closed\n', text);
      expect([open.code, open.line]).toEqual([DatasetErrorCode.format, 3]);
      const after = await refusal('csv', 'y,t\nx,"a"b\n', text);
      expect([after.code, after.line]).toEqual([DatasetErrorCode.format, 2]);
    });

    it('a repeated id', async () => {
      const e = await refusal('jsonl', '{"id":1,"t":"a","y":"x"}\n{"id":1,"t":"b","y":"z"}\n', {
        ...text,
        idField: 'id',
      });
      expect([e.code, e.line]).toEqual([DatasetErrorCode.duplicateId, 2]);
    });

    it('no input field, or two', async () => {
      expect((await refusal('jsonl', '', { labelField: 'y' })).code).toBe(DatasetErrorCode.options);
      expect((await refusal('jsonl', '', { labelField: 'y', textField: 't', featuresField: 'f' })).code).toBe(
        DatasetErrorCode.options,
      );
    });
  });
});

describe('parseCsv', () => {
  it('keeps empty cells, quoted empty cells, and a last row without a line break', () => {
    expect(parseCsv('a,,"",d\n"x"\n1,2')).toEqual([
      { line: 1, cells: ['a', '', '', 'd'] },
      { line: 2, cells: ['x'] },
      { line: 3, cells: ['1', '2'] },
    ]);
  });
});

describe('shuffled', () => {
  const items = Array.from({ length: 50 }, (_, i) => i);

  it('is a permutation fixed by the seed, leaving the input alone', () => {
    const a = shuffled(items, 7);
    expect(shuffled(items, 7)).toEqual(a);
    expect([...a].sort((x, y) => x - y)).toEqual(items);
    expect(a).not.toEqual(items);
    expect(shuffled(items, 8)).not.toEqual(a);
    expect(items[0]).toBe(0);
  });
});
