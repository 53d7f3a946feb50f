import { describe, expect, it } from '@jest/globals';
import { exposedMetricNames, promqlMetricNames } from '../src';

describe('promqlMetricNames', () => {
  it.each([
    ['hitl_consumer_lag', ['hitl_consumer_lag']],
    [
      'sum by (group, topic) (max by (group, topic, partition) (hitl_consumer_lag{group=~"$group"}))',
      ['hitl_consumer_lag'],
    ],
    [
      'histogram_quantile(0.99, sum by (le, group) (rate(hitl_consumer_batch_duration_seconds_bucket[$__rate_interval])))',
      ['hitl_consumer_batch_duration_seconds_bucket'],
    ],
    [
      'sum(rate(a_total{x="by (y)"}[5m])) without (instance) / on (model) group_left (version) b offset 1h',
      ['a_total', 'b'],
    ],
    [
      'time() - max(hitl_trainer_last_promotion_timestamp_seconds) > 7 * 86400',
      ['hitl_trainer_last_promotion_timestamp_seconds'],
    ],
    ['x > bool 0.5 and y unless z or on() vector(1)', ['x', 'y', 'z']],
    ['deriv(sum(c)[10m:1m]) > 1e3 and max_over_time(d[1h30m] @ end()) > Inf', ['c', 'd']],
    ['count without (le) (e) # a comment naming not_a_metric', ['e']],
    ['label_replace(f, "dst", "$1", "src", "(.*)") == ${threshold}', ['f']],
  ])('reads %s', (expr, names) => {
    expect(promqlMetricNames(expr)).toEqual(names);
  });
});

describe('exposedMetricNames', () => {
  it('expands histograms and summaries into the series a query names', () => {
    const names = exposedMetricNames(
      [
        '# HELP a_total help',
        '# TYPE a_total counter',
        'a_total{x="1"} 3',
        '# TYPE b_seconds histogram',
        '# TYPE c summary',
        '# TYPE d gauge',
        'untyped_thing 1',
      ].join('\n'),
    );
    expect([...names].sort()).toEqual(
      [
        'a_total',
        'b_seconds_bucket',
        'b_seconds_count',
        'b_seconds_sum',
        'c',
        'c_count',
        'c_sum',
        'd',
        'untyped_thing',
      ].sort(),
    );
  });
});
