import { createChatdClient, IDLE_STATUSES, unwrap, type ChatMessage } from './index';

/** Asks chatd one question, prints the answer as it streams, and returns the stored messages. */
export async function ask(baseUrl: string, token: string, question: string): Promise<ChatMessage[]> {
  const chatd = createChatdClient({ baseUrl, token });
  const chat = unwrap(await chatd.api.POST('/chats', { body: { content: [{ type: 'text', text: question }] } }));

  for await (const event of chatd.streamChat(chat.id)) {
    if (event.type === 'message_part' && event.part.type === 'text') process.stdout.write(event.part.text ?? '');
    if (event.type === 'status' && IDLE_STATUSES.includes(event.status)) break; // the turn is over
  }

  const page = unwrap(await chatd.api.GET('/chats/{id}/messages', { params: { path: { id: chat.id } } }));
  return page.messages;
}
