import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { parseAmountFlag, parseDurationFlag, parseIntegerFlag, parseUrlFlag } from '../../src/cli/options.js';

describe('parseDurationFlag', () => {
  it.each([
    ['30s', 30_000],
    ['500ms', 500],
    ['2m', 120_000],
    ['1.5h', 5_400_000],
    ['45', 45_000],
    [' 0.25s ', 250],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseDurationFlag(text)).toBe(ms);
  });

  it.each(['abc', '', '-1s', '10 s', '5d', '0', '0.0001ms'])(
    'refuses %j, saying what it expected',
    (text) => {
      expect(() => parseDurationFlag(text)).toThrow(InvalidArgumentError);
      expect(() => parseDurationFlag(text)).toThrow(/duration/);
    },
  );
});

describe('parseIntegerFlag', () => {
  it('reads whole numbers from its minimum', () => {
    expect(parseIntegerFlag(1)('5')).toBe(5);
    expect(parseIntegerFlag(0)('0')).toBe(0);
  });

  it.each(['0', '-3', '2.5', 'five', '', '1e3', '99999999999999999999'])(
    'refuses %j below or beside a minimum of 1',
    (text) => {
      expect(() => parseIntegerFlag(1)(text)).toThrow(`expected a whole number from 1 and up, got "${text}"`);
    },
  );
});

describe('parseAmountFlag', () => {
  it('reads positive amounts', () => {
    expect(parseAmountFlag('2.50')).toBe(2.5);
  });

  it.each(['0', '-1', 'abc', '', 'Infinity'])('refuses %j', (text) => {
    expect(() => parseAmountFlag(text)).toThrow(`expected a positive number, got "${text}"`);
  });
});

describe('parseUrlFlag', () => {
  it('keeps http and https URLs as given', () => {
    expect(parseUrlFlag('http://localhost:11434/v1')).toBe('http://localhost:11434/v1');
    expect(parseUrlFlag('https://api.example.com/v1/')).toBe('https://api.example.com/v1/');
  });

  it.each(['localhost:8000', 'ftp://x/v1', 'not a url'])('refuses %j', (text) => {
    expect(() => parseUrlFlag(text)).toThrow(InvalidArgumentError);
  });
});
