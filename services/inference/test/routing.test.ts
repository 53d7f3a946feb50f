import { describe, expect, it } from '@jest/globals';
import { LabelBound, OTHER_LABEL, modelForStream, type StreamRoutes } from '../src';

describe('routing events to models', () => {
  const empty: StreamRoutes = { revision: 0, streams: new Map() };
  const two: StreamRoutes = {
    revision: 2,
    streams: new Map([
      ['spam', 'spam-model'],
      ['tickets', 'tickets-model'],
    ]),
  };

  it('sends every event to MODEL_ID while no stream is registered', () => {
    expect(modelForStream('anything', empty, 'default')).toBe('default');
  });

  it('sends an event to its own stream model only, and none for a stream not registered', () => {
    expect(modelForStream('spam', two, 'default')).toBe('spam-model');
    expect(modelForStream('tickets', two, 'default')).toBe('tickets-model');
    expect(modelForStream('email', two, 'default')).toBeNull();
    // MODEL_ID serves nothing by itself once streams are registered.
    expect(modelForStream('default', two, 'default')).toBeNull();
  });
});

describe('label bound', () => {
  it('keeps the first values and counts later ones under other', () => {
    const bound = new LabelBound(2);
    expect(bound.label('a')).toBe('a');
    expect(bound.label('b')).toBe('b');
    expect(bound.label('c')).toBe(OTHER_LABEL);
    expect(bound.label('a')).toBe('a');
    expect(bound.label('d')).toBe(OTHER_LABEL);
  });
});
