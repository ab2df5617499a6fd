/**
 * A logger in the shape Vega and Vega-Lite take, that keeps their messages instead of printing
 * them: the library never writes to the terminal, and a warning usually means a plot lost
 * something. Errors are kept too, or thrown when `throwErrors` is set.
 */
export function collectingLogger(messages: string[], prefix: string, throwErrors = false) {
  const text = (args: unknown[]): string => args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ');
  let level = 0;
  const logger = {
    level(l?: number) {
      if (l === undefined) return level;
      level = l;
      return logger;
    },
    error(...args: unknown[]) {
      if (throwErrors) throw new Error(`${prefix}: ${text(args)}`);
      messages.push(`${prefix}: ${text(args)}`);
      return logger;
    },
    warn(...args: unknown[]) {
      messages.push(text(args));
      return logger;
    },
    info: () => logger,
    debug: () => logger,
  };
  return logger;
}
