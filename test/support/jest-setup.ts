/** Runs before every test file: the tier's timeout, and quiet logs unless a test asks for them. */
declare const CHATD_TEST_TIMEOUT_MS: number | undefined;
if (typeof CHATD_TEST_TIMEOUT_MS === 'number') jest.setTimeout(CHATD_TEST_TIMEOUT_MS);
process.env.CHATD_LOG_LEVEL ??= 'silent';
