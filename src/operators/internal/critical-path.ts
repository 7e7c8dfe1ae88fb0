/**
 * Longest weighted path from `start` to a sink, where a path's length is the sum of its nodes' weights.
 * Iterative (plans can be long chains) and memoised in `memo`, which the caller clears when the graph grows.
 * An edge back to a node still on the path is ignored, so a cycle cannot loop it.
 */
export function longestPathFrom<N>(
  start: N,
  next: (node: N) => Iterable<N>,
  weight: (node: N) => number,
  memo: Map<N, number>,
): number {
  const known = memo.get(start);
  if (known !== undefined) return known;
  interface Frame {
    readonly node: N;
    readonly children: Iterator<N>;
    best: number;
  }
  const frames: Frame[] = [{ node: start, children: next(start)[Symbol.iterator](), best: 0 }];
  const onPath = new Set<N>([start]);
  let total = 0;
  while (frames.length > 0) {
    const frame = frames[frames.length - 1] as Frame;
    const step = frame.children.next();
    if (step.done !== true) {
      const child = step.value;
      const length = memo.get(child);
      if (length !== undefined) frame.best = Math.max(frame.best, length);
      else if (!onPath.has(child)) {
        onPath.add(child);
        frames.push({ node: child, children: next(child)[Symbol.iterator](), best: 0 });
      }
      continue;
    }
    total = weight(frame.node) + frame.best;
    memo.set(frame.node, total);
    onPath.delete(frame.node);
    frames.pop();
    const parent = frames[frames.length - 1];
    if (parent !== undefined) parent.best = Math.max(parent.best, total);
  }
  return total;
}
