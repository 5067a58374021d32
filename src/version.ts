/** chatd's version, from package.json (sent as `User-Agent: chatd/<version>` to providers). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const VERSION: string = (require('../package.json') as { version: string }).version;
