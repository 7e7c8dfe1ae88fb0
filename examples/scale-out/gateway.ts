// The gateway: a WebSocket gateway (dashboard included) that pushes the results every worker writes to the
// results stream to the clients watching them, through serve({ results: fromRedisResults(...) }). One client
// in this process watches every task, as a browser on the dashboard would, and the gateway exits after COUNT
// results with a JSON summary line. Needs REDIS_URL, PREFIX, COUNT.
import { once } from 'node:events';
import { Subject, switchMap, take } from 'rxjs';
import WebSocket from 'ws';
import { defaultAgent } from 'rxagent/openai';
import { fromRedisResults } from 'rxagent/redis';
import { ServerFrameSchema, frameText, serve } from 'rxagent/server';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = process.env.PREFIX ?? 'scale-out:';
const count = Number(process.env.COUNT ?? '30');

// Results are pushed to the clients watching at that moment, so reading starts once the watcher is subscribed.
const watching = new Subject<void>();
const gateway = await serve({
  // Tasks typed into the dashboard run here; the workers' results arrive through Redis.
  agent: defaultAgent({ simulated: { seed: 7 } }),
  results: watching.pipe(
    take(1),
    switchMap(() => fromRedisResults({ url, stream: `${prefix}results`, from: '0' })),
  ),
  // Results from the workers belong to no identity: whoever connects here may watch them. An exposed
  // gateway would admit only some identities (the `auth` hook says who is who).
  authorize: (request) =>
    request.action === 'submit' || (request.action === 'subscribe' && request.owner === undefined),
});
console.log(`gateway: dashboard at ${gateway.url}/`);

const socket = new WebSocket(gateway.wsUrl);
await once(socket, 'open');
const statuses = new Map<string, string>();
let received = 0;
const done = new Promise<void>((resolve) => {
  socket.on('message', (data) => {
    const frame = ServerFrameSchema.parse(JSON.parse(frameText(data)));
    // Frames are answered in order, so the pong says the subscription is in place.
    if (frame.type === 'pong') watching.next();
    if (frame.type !== 'settled') return;
    received++;
    statuses.set(frame.taskId, frame.result.status);
    console.log(`gateway: ${frame.taskId} ${frame.result.status}`);
    if (received >= count) resolve();
  });
});
socket.send(JSON.stringify({ type: 'subscribe', taskIds: '*' }));
socket.send(JSON.stringify({ type: 'ping' }));
await done;
socket.close();
await gateway.close();
const fulfilled = [...statuses.values()].filter((status) => status === 'fulfilled').length;
console.log(JSON.stringify({ results: received, fulfilled, unique: statuses.size }));
