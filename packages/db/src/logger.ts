/** The slice of a pino logger this package uses, so it does not depend on pino itself. */
export interface DbLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

// Without a logger, warnings and errors still reach stderr rather than vanishing.
export const stderrLogger: DbLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (obj, msg) => console.warn(msg, obj),
  error: (obj, msg) => console.error(msg, obj),
};
