/**
 * `chatd chat` (src/terminal, README "Terminal client") in a real pseudo-terminal against the real
 * stack: `script` (util-linux) gives the child a PTY, so readline runs as on a user's terminal;
 * "\r" ends a line and "\x03" is Ctrl-C. Each test starts its own client process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { hang, text, toolCalls } from '../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { startTestApp, textBody, type TestApp } from '../support/app';
import { until } from '../support/wait';

// The escape sequences readline writes to a terminal.
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]/g;

/** One `chatd chat` process in a PTY: everything it printed (ANSI codes and \r removed), and its keyboard. */
class Terminal {
  private raw = '';
  private readonly exited: Promise<number | null>;
  private constructor(private readonly child: ChildProcess) {
    child.stdout!.on('data', (chunk: Buffer) => (this.raw += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (this.raw += chunk.toString('utf8')));
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  static start(app: TestApp, args: string[] = []): Terminal {
    const command = [
      'node_modules/.bin/tsx',
      'src/main/cli.ts',
      'chat',
      '--url',
      app.url,
      '--token',
      app.token,
      ...args,
    ];
    const child = spawn('script', ['-qfec', command.join(' '), '/dev/null'], {
      cwd: process.cwd(),
      env: { ...process.env, NO_COLOR: '1', TERM: 'dumb' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new Terminal(child);
  }

  get output(): string {
    return this.raw.replace(ANSI, '').replace(/\r/g, '');
  }

  type(line: string): void {
    this.child.stdin!.write(`${line}\r`);
  }

  ctrlC(): void {
    this.child.stdin!.write('\x03');
  }

  /** Waits until the output after `from` contains `wanted`; returns the index just after it. */
  async waitFor(wanted: string | RegExp, from = 0): Promise<number> {
    return until(
      async () => {
        const rest = this.output.slice(from);
        const match = typeof wanted === 'string' ? rest.indexOf(wanted) : rest.search(wanted);
        if (match < 0) return undefined;
        const length = typeof wanted === 'string' ? wanted.length : rest.match(wanted)![0].length;
        return from + match + length;
      },
      `${String(wanted)} in the terminal`,
      60_000,
      async () => JSON.stringify(this.output.slice(-1500)),
    );
  }

  /** Ctrl-C at an idle prompt: the client exits; resolves with its exit code. */
  async exit(): Promise<number | null> {
    this.ctrlC();
    return this.exited;
  }

  ended(): Promise<number | null> {
    return this.exited;
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

describe('chatd chat, the terminal client', () => {
  let fake: FakeLlmServer;
  let app: TestApp;
  const terminals: Terminal[] = [];
  const open = (args: string[] = []): Terminal => {
    const terminal = Terminal.start(app, args);
    terminals.push(terminal);
    return terminal;
  };

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake });
  });
  afterEach(() => {
    for (const terminal of terminals.splice(0)) terminal.kill();
  });
  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  const chatIdOf = async (terminal: Terminal): Promise<string> => {
    await terminal.waitFor(/\(new chat [0-9a-f-]{36}\)/);
    return /\(new chat ([0-9a-f-]{36})\)/.exec(terminal.output)![1]!;
  };

  it('streams the answer to a typed message and shows the prompt again', async () => {
    fake.enqueue(text('Hello from the terminal test.', { tokensPerSecond: 100 }));
    const terminal = open();
    let at = await terminal.waitFor('you> ');
    terminal.type('Hi terminal');
    at = await terminal.waitFor('Hello from the terminal test.', at);
    await terminal.waitFor('you> ', at);
    const chatId = await chatIdOf(terminal);

    const { body } = await app.request('GET', `/chats/${chatId}/messages`);
    expect(body.messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant']);
    expect(await terminal.exit()).toBe(0);
  });

  it('shows a tool call and its result', async () => {
    fake.enqueue(
      toolCalls([{ id: 'call_terminal_templates', name: 'list_templates', args: {} }]),
      text('Listed the templates.'),
    );
    const terminal = open();
    const at = await terminal.waitFor('you> ');
    terminal.type('Which templates exist?');
    const call = await terminal.waitFor('→ list_templates {}', at);
    const result = await terminal.waitFor(/← list_templates: \S/, call);
    await terminal.waitFor('Listed the templates.', result);
    await terminal.waitFor('you> ', result);
  });

  it('interrupts a running answer with Ctrl-C and keeps the partial answer', async () => {
    fake.enqueue(hang({ afterText: 'Working on it' }));
    const terminal = open();
    let at = await terminal.waitFor('you> ');
    terminal.type('Take your time');
    at = await terminal.waitFor('Working on it', at);
    const chatId = await chatIdOf(terminal);
    terminal.ctrlC();
    at = await terminal.waitFor('^C interrupted (partial answer kept)', at);
    await terminal.waitFor('you> ', at);

    const stored = await until(async () => {
      const { body } = await app.request('GET', `/chats/${chatId}/messages`);
      return body.messages.length === 2 ? body.messages : undefined;
    }, 'the partial answer to be stored');
    expect(stored[1].role).toBe('assistant');
    expect(stored[1].content).toEqual([{ type: 'text', text: 'Working on it' }]);
    expect((await app.request('GET', `/chats/${chatId}`)).body.status).toBe('waiting');
  });

  it('queues a line typed during a turn and answers it next', async () => {
    const slow = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
    fake.enqueue(text(slow, { tokensPerSecond: 10 }), text('The follow-up answer.'));
    const terminal = open();
    let at = await terminal.waitFor('you> ');
    terminal.type('Say many words');
    at = await terminal.waitFor('word0', at);
    terminal.type('And then this');
    at = await terminal.waitFor('(queued: 1)', at);
    at = await terminal.waitFor('The follow-up answer.', at);
    await terminal.waitFor('you> ', at);
    const chatId = await chatIdOf(terminal);

    const { body } = await app.request('GET', `/chats/${chatId}/messages`);
    const texts = body.messages.map((m: { content: Array<{ text?: string }> }) => m.content[0]?.text);
    expect(texts).toEqual(['Say many words', slow, 'And then this', 'The follow-up answer.']);
  });

  it('lists the chats with --list', async () => {
    fake.enqueue(text('Listed.'));
    const created = await app.request('POST', '/chats', textBody('A chat to list'));
    expect(created.status).toBe(201);
    const terminal = open(['--list']);
    expect(await terminal.ended()).toBe(0);
    expect(terminal.output).toMatch(new RegExp(`${created.body.id} +\\S+ +\\S`));
  });
});
