import { describe, expect, it } from 'vitest';
import { InputCalibration } from '../../src/budget/calibration.js';

describe('InputCalibration', () => {
  it('scales estimates by the largest recent ratio of counted to estimated input', () => {
    const calibration = new InputCalibration();
    expect(calibration.reserve(100)).toBe(100);
    calibration.observe(100, 110);
    calibration.observe(100, 95);
    expect(calibration.reserve(100)).toBe(110);
  });

  it('bounds what one odd run can do: a tiny prompt with framing, or a provider that reports no input', () => {
    const calibration = new InputCalibration();
    calibration.observe(2, 40);
    expect(calibration.reserve(5_000)).toBe(10_000);
    const silent = new InputCalibration();
    for (let i = 0; i < 64; i++) silent.observe(5_000, 0);
    expect(silent.reserve(5_000)).toBe(5_000);
    silent.observe(5_000, 1);
    expect(silent.reserve(5_000)).toBe(2_500);
  });
});
