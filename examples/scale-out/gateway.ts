// The gateway: follows the results stream that every worker writes and shows each result as it lands,
// exiting after COUNT of them with a JSON summary line. In a real deployment these events go to WebSocket
// clients: serve({ agent, results: fromRedisResults({ url, stream }) }). Needs REDIS_URL, PREFIX, COUNT.
import { lastValueFrom, take, tap, toArray } from 'rxjs';
import { fromRedisResults } from '../../src/sources/from-redis-results.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = process.env.PREFIX ?? 'scale-out:';
const count = Number(process.env.COUNT ?? '30');

const events = await lastValueFrom(
  fromRedisResults({ url, stream: `${prefix}results`, from: '0' }).pipe(
    take(count),
    tap((event) => {
      if (event.type === 'settled') console.log(`gateway: ${event.taskId} ${event.result.status}`);
    }),
    toArray(),
  ),
);
const fulfilled = events.filter((e) => e.type === 'settled' && e.result.status === 'fulfilled').length;
console.log(
  JSON.stringify({ results: events.length, fulfilled, unique: new Set(events.map((e) => e.taskId)).size }),
);
