/**
 * The V8 flags every service runs with (the images' CMD, and the processes tests, benchmarks and
 * the replay start). `--max-semi-space-size=4` caps each semi-space of the young generation at
 * 4 MB instead of V8's 16 MB: the services allocate much short-lived garbage per
 * record (5 KB inputs decoded, validated and encoded again), and a smaller young generation is
 * collected sooner. It lowers most services' peak RSS by 15–40 MB for 3–7% more CPU per event
 * (docs/performance.md, "Memory").
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
