import { describe, expect, it } from 'vitest';
import { ServerFrameSchema, eventToFrame } from '../../src/wire/protocol.js';

describe('eventToFrame', () => {
  it('sends a route event as a `route` frame that the server frame schema accepts', () => {
    const frame = eventToFrame({ type: 'route', taskId: 't1', deployment: 'azure-east', attempt: 2 });
    expect(frame).toEqual({ type: 'route', taskId: 't1', deployment: 'azure-east', attempt: 2 });
    expect(ServerFrameSchema.parse({ ...frame, owner: 'alice' })).toEqual({ ...frame, owner: 'alice' });
  });
});
