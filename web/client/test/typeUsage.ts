// Compile-time checks of the request and event types generated from the wire schema:
// `npm test` builds this file with tsc, which fails if a line marked @ts-expect-error
// compiles (or an unmarked one does not). Nothing here runs.

import type { HubbubClient } from '@hubbub/client'

export async function typedUsage(client: HubbubClient): Promise<void> {
  const sent = await client.request('sendMessage', { toConversationID: 'bob', conversationType: 0, message: { type: 1, message: 'hi' } })
  const messageID: string = sent.message.messageID
  await client.request('queryDevices') // no required field: the fields may be left out
  await client.request('queryHistoryMessage', { conversationID: 'bob', conversationType: 0, config: { count: 20 } })
  // @ts-expect-error a required field (message) is missing
  await client.request('sendMessage', { toConversationID: 'bob', conversationType: 0 })
  // @ts-expect-error conversationType is 0, 1 or 2
  await client.request('sendMessage', { toConversationID: 'bob', conversationType: 9, message: { type: 1, message: 'hi' } })
  // @ts-expect-error a known op's fields are checked, not taken as any map
  await client.request('queryHistoryMessage', { conversationID: 5 })
  await client.request('someFutureOp', { anything: true }) // an op the schema does not know yet: untyped
  client.on('peerMessageReceived', (ev) => {
    const text: string | Uint8Array = ev.messageList[0]!.message
    const seq: number = ev.seq
    void text, seq
  })
  client.on('closed', (info) => {
    // @ts-expect-error the reason is one of the CloseReason names
    const wrong: 'nope' = info.reason
    void wrong
  })
  for await (const ev of client.events('conversationChanged')) {
    const infos: unknown[] = ev.infoList
    void infos
  }
  void messageID
}
