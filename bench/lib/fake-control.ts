/**
 * The fake LLM's control endpoints as the bench reads them: the recorded provider requests (when
 * each arrived, for which chat, whether chatd aborted it) and a reset between scenarios.
 */

export interface FakeRequest {
  index: number;
  model: string;
  receivedAt: number;
  aborted: boolean;
  chatId: string | undefined;
}

export async function fakeRequests(fakeUrl: string): Promise<FakeRequest[]> {
  const res = await fetch(`${fakeUrl}/__fake/requests`);
  const body = (await res.json()) as {
    requests: Array<{
      index: number;
      model: string;
      receivedAt: number;
      aborted: boolean;
      headers: Record<string, string>;
    }>;
  };
  return body.requests.map((r) => ({
    index: r.index,
    model: r.model,
    receivedAt: r.receivedAt,
    aborted: r.aborted,
    chatId: r.headers['x-chatd-chat-id'],
  }));
}

export async function resetFake(fakeUrl: string): Promise<void> {
  await fetch(`${fakeUrl}/__fake/reset`, { method: 'POST' });
}

/** The requests of one chat, oldest first. */
export function requestsOf(requests: FakeRequest[], chatId: string): FakeRequest[] {
  return requests.filter((r) => r.chatId === chatId).sort((a, b) => a.index - b.index);
}
