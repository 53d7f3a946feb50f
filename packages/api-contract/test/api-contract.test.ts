import { createValidator } from '@hitl/contracts';
import { describe, expect, it } from '@jest/globals';
import { ApiErrorCode, ErrorBody, ExportedLabel } from '../src';

describe('the error side of the contract', () => {
  it('gives every code of the API a body ErrorBody accepts', () => {
    const validBody = createValidator(ErrorBody);
    for (const code of Object.values(ApiErrorCode)) {
      expect(validBody.issues({ error: { code, message: 'for people' } })).toEqual([]);
    }
    expect(validBody.check({ error: { code: 'E_SOMETHING', message: 'not ours' } })).toBe(false);
  });
});

describe('ExportedLabel', () => {
  const validLine = createValidator(ExportedLabel);
  const line: ExportedLabel = {
    eventId: 'evt-1',
    stream: 'mail',
    input: { text: 'win a prize' },
    label: 'spam',
    reviewerLabels: [{ reviewerId: 'alice', label: 'spam' }],
    reviewReason: 'low_confidence',
    modelPrediction: { model: { id: 'spam', version: 3 }, label: 'ham', confidence: 0.55 },
    decidedAt: '2026-01-02T03:04:05.678Z',
  };

  it('takes a line as the export writes it, with or without a model prediction', () => {
    expect(validLine.issues(line)).toEqual([]);
    expect(validLine.issues({ ...line, reviewReason: 'no_model', modelPrediction: null })).toEqual([]);
  });

  it('refuses a line without its final label or with a reason the pipeline does not give', () => {
    const { label: _label, ...unlabelled } = line;
    expect(validLine.check(unlabelled)).toBe(false);
    expect(validLine.check({ ...line, reviewReason: 'whim' })).toBe(false);
  });
});
