import { describe, expect, it } from 'vitest';
import { MessageIntake } from '../../src/pipeline/message-intake.ts';

describe('MessageIntake', () => {
  it('gives the newest from one end and the oldest from the other, across growth and wrap-around', () => {
    const intake = new MessageIntake<number>();
    for (let i = 0; i < 100; i++) intake.push(i);
    expect(intake.size).toBe(100);
    expect(intake.takeNewest()).toBe(99);
    expect(intake.peekOldest()).toBe(0);
    expect(intake.takeOldest()).toBe(0);
    // Wrap the ring: take from the front, push at the back.
    for (let i = 0; i < 50; i++) intake.takeOldest();
    for (let i = 100; i < 180; i++) intake.push(i);
    expect(intake.size).toBe(48 + 80);
    expect(intake.peekOldest()).toBe(51);
    const newest: number[] = [];
    for (let i = 0; i < 3; i++) newest.push(intake.takeNewest() as number);
    expect(newest).toEqual([179, 178, 177]);
    const rest: number[] = [];
    for (let item = intake.takeOldest(); item !== undefined; item = intake.takeOldest()) rest.push(item);
    expect(rest).toEqual([...Array.from({ length: 48 }, (_, i) => 51 + i), ...Array.from({ length: 77 }, (_, i) => 100 + i)]);
    expect(intake.size).toBe(0);
    expect(intake.takeNewest()).toBeUndefined();
    expect(intake.peekOldest()).toBeUndefined();
  });
});
