/**
 * `${VAR}` and `${VAR:-default}` references in flow file strings. `$${` writes a literal `${`. Applied to parsed YAML
 * scalars (not to the raw text), so an env value can never inject YAML structure.
 */

export type Env = Readonly<Record<string, string | undefined>>;

export type InterpolationResult =
  | { ok: true; value: string; /** Env values substituted in, for redaction. */ substituted: string[]; /** True when the whole string was one reference. */ whole: boolean }
  | { ok: false; problem: string };

const REFERENCE = /\$\$\{|\$\{([^}]*)\}|\$\{/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** True when the string uses `${` at all (so it needs interpolation). */
export function hasReference(text: string): boolean {
  return text.includes('${');
}

export function interpolate(text: string, env: Env): InterpolationResult {
  const substituted: string[] = [];
  let problem: string | undefined;
  let references = 0;
  const value = text.replace(REFERENCE, (match: string, body: string | undefined) => {
    if (match === '$${') return '${';
    references += 1;
    if (body === undefined) {
      problem ??= "unclosed '${': expected ${NAME} or ${NAME:-default}";
      return '';
    }
    const separator = body.indexOf(':-');
    const name = separator === -1 ? body : body.slice(0, separator);
    if (!NAME.test(name)) {
      problem ??= `bad reference '\${${name}}': expected \${NAME} or \${NAME:-default} with NAME made of letters, digits and _`;
      return '';
    }
    const fromEnv = env[name];
    if (separator === -1) {
      if (fromEnv === undefined) {
        problem ??= `environment variable ${name} is not set (write \${${name}:-default} to give a default)`;
        return '';
      }
      substituted.push(fromEnv);
      return fromEnv;
    }
    if (fromEnv !== undefined && fromEnv !== '') {
      substituted.push(fromEnv);
      return fromEnv;
    }
    return body.slice(separator + 2);
  });
  if (problem !== undefined) return { ok: false, problem };
  const whole = references === 1 && /^\$\{[^}]*\}$/.test(text);
  return { ok: true, value, substituted, whole };
}
