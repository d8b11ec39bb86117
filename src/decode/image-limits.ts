import type { LimitsConfig } from './input-limits-config.ts';

/** Default image bounds, derived from the model input: 16x its larger side, 64x its pixel count (NEU 200x200: 3200 px, 2.56 MP). */
export const IMAGE_SIDE_PER_INPUT_SIDE = 16;
export const IMAGE_PIXELS_PER_INPUT_PIXEL = 64;

/** The image bounds of a flow: its limits (flow schema `limits`), else derived from the model input. */
export function resolveImageLimits(
  limits: Pick<LimitsConfig, 'maxImagePixels' | 'maxImageSide'>,
  input: { width: number; height: number },
): { maxPixels: number; maxSide: number } {
  return {
    maxPixels: limits.maxImagePixels ?? IMAGE_PIXELS_PER_INPUT_PIXEL * input.width * input.height,
    maxSide: limits.maxImageSide ?? IMAGE_SIDE_PER_INPUT_SIDE * Math.max(input.width, input.height),
  };
}
