/**
 * The vocabulary every component's config piece is written in: `doc` attaches the description and example that
 * docs/flows.md is generated from, and the shared field types (URLs by scheme, counts, syntax refinements).
 */
import { z } from 'zod';

/** Documentation attached to every field; `secret` fields must come from an env variable and are never echoed. */
export type FieldDoc = {
  description: string;
  examples: unknown[];
  secret?: boolean;
};

export function doc<T extends z.ZodType>(schema: T, description: string, example: unknown, extra: { secret?: boolean } = {}): T {
  const meta: FieldDoc = { description, examples: [example], ...extra };
  return schema.meta(meta);
}

/** A zod refinement from a syntax check that returns the reason a value is invalid (config/syntax.ts). */
export function refineWith(problem: (value: string) => string | undefined) {
  return (value: string, ctx: z.core.$RefinementCtx<string>): void => {
    const reason = problem(value);
    if (reason !== undefined) ctx.addIssue({ code: 'custom', message: reason });
  };
}

export const urlWithScheme = (schemes: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return schemes.includes(new URL(value).protocol.replace(/:$/, ''));
      } catch {
        return false;
      }
    },
    { message: `expected a URL starting with ${schemes.map((scheme) => `${scheme}://`).join(', ')}` },
  );

export const positiveInt = () => z.number().int().positive();
export const nonNegativeInt = () => z.number().int().nonnegative();
