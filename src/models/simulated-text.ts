import type { ChatMessage, Task } from '../core/types.js';
import type { Random } from './simulated-random.js';

const FILLER = (
  'the a model stream token result plan data value system request answer detail step check output ' +
  'context reason source fact point summary list option case note item part example test signal ' +
  'quickly clearly then also so next first finally here which this that with from into over under ' +
  'about each more less all some many other further simple short long exact likely'
).split(' ');

const PROMPT_WORDS = 8;
const TOOL_RESULT_WORDS = 12;

function words(text: string, limit: number): string[] {
  return text
    .split(/\s+/)
    .filter((word) => word !== '')
    .slice(0, limit);
}

function messagesOf(task: Task): readonly ChatMessage[] {
  return typeof task.input === 'string' ? [{ role: 'user', content: task.input }] : task.input;
}

function isToolTurn(message: ChatMessage): boolean {
  return message.role === 'tool' || (message.role === 'assistant' && (message.toolCalls?.length ?? 0) > 0);
}

/**
 * How many tool-call rounds the conversation already holds. An assistant message with tool calls and the
 * tool results after it are one round; tool results without that assistant message (loops that do not echo
 * it) still count once per run of consecutive results.
 */
export function toolRounds(task: Task): number {
  let rounds = 0;
  let previous: ChatMessage | undefined;
  for (const message of messagesOf(task)) {
    const startsRound =
      message.role === 'assistant'
        ? isToolTurn(message)
        : message.role === 'tool' && !(previous && isToolTurn(previous));
    if (startsRound) rounds++;
    previous = message;
  }
  return rounds;
}

/**
 * The opening words of an answer, taken from the input so results are recognisable: the first words of the
 * last user message, or, right after tool results, the first words of each result.
 */
export function answerHeader(task: Task): string[] {
  const messages = messagesOf(task);
  const trailingResults: ChatMessage[] = [];
  for (let i = messages.length - 1; i >= 0 && messages[i]?.role === 'tool'; i--) {
    trailingResults.unshift(messages[i] as ChatMessage);
  }
  if (trailingResults.length > 0) {
    return [
      'Simulated',
      'answer',
      'from',
      'tools:',
      ...trailingResults.flatMap((m) => words(m.content, TOOL_RESULT_WORDS)),
    ];
  }
  const lastUser = [...messages].reverse().find((m) => m.role === 'user') ?? messages[messages.length - 1];
  return ['Simulated', 'answer', 'to:', ...words(lastUser?.content ?? '', PROMPT_WORDS)];
}

function fillerWord(random: Random): string {
  return FILLER[Math.floor(random() * FILLER.length)] as string;
}

/** The answer as `count` tokens: the header, then seeded filler words, each later token led by a space. */
export function answerTokens(header: readonly string[], count: number, random: Random): string[] {
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) {
    const word = header[i] ?? fillerWord(random);
    tokens.push(i === 0 ? word : ` ${word}`);
  }
  return tokens;
}

/** A deterministic stand-in for a tokenizer: about four characters a token. */
export function countTokens(text: string): number {
  return Math.ceil(text.length / 4);
}
