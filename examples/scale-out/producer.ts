// Puts COUNT prompts on the tasks stream and exits. Started by run.ts; needs REDIS_URL and PREFIX.
import { Redis } from 'ioredis';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const prefix = process.env.PREFIX ?? 'scale-out:';
const count = Number(process.env.COUNT ?? '30');

for (let i = 0; i < count; i++) {
  const task = { id: `task-${i}`, input: `Write a haiku about server number ${i}.`, maxOutputTokens: 64 };
  await redis.xadd(`${prefix}tasks`, '*', 'task', JSON.stringify(task));
}
console.log(`producer: queued ${count} tasks`);
await redis.quit();
