/** Conversations (unread counts, pin, mark, draft, delete) and the open conversation's chat view. */

import { useEffect, useRef, useState } from 'preact/hooks'
import type { Session } from '../session'
import { useStore } from '../store'
import { type Conversation, GROUP, type Message, messageText, PEER } from '../wire'

export function Chats(props: { session: Session }) {
  const { session } = props
  const state = useStore(session.state)
  const [peer, setPeer] = useState('')

  const open = (id: string, type: number): void => void session.attempt(() => session.openConversation(id, type))

  return (
    <div class="chats">
      <div class="conversations">
        <form
          class="inline"
          onSubmit={(e) => {
            e.preventDefault()
            if (peer.trim()) open(peer.trim(), PEER)
            setPeer('')
          }}
        >
          <input data-testid="new-chat-user" placeholder="chat with userID" value={peer} onInput={(e) => setPeer(e.currentTarget.value)} />
          <button data-testid="new-chat-open">Open</button>
          <button type="button" class="quiet" data-testid="open-own-devices" onClick={() => open(session.userID, PEER)}>
            My devices
          </button>
        </form>
        <ul data-testid="conversations">
          {state.conversations.map((c) => (
            <ConversationRow
              session={session}
              conversation={c}
              active={state.selected?.conversationID === c.conversationID && state.selected.conversationType === c.conversationType}
              onOpen={() => open(c.conversationID, c.conversationType)}
            />
          ))}
        </ul>
        {state.conversations.length === 0 && <p class="hint">No conversations yet.</p>}
      </div>
      {state.selected ? (
        // one view per conversation: its composer starts from that conversation's draft
        <ChatView key={`${state.selected.conversationType}:${state.selected.conversationID}`} session={session} />
      ) : <div class="chat empty">Pick a conversation.</div>}
    </div>
  )
}

function ConversationRow(props: { session: Session; conversation: Conversation; active: boolean; onOpen: () => void }) {
  const { session, conversation: c } = props
  const marked = c.marks.includes(1)
  const label = c.conversationID === session.userID ? 'My devices' : c.conversationName || c.conversationID
  return (
    <li
      data-testid="conversation"
      data-id={c.conversationID}
      data-type={c.conversationType}
      class={`${props.active ? 'active' : ''} ${c.isPinned ? 'pinned' : ''}`}
    >
      <button class="row" data-testid="conversation-open" onClick={props.onOpen}>
        <span class="name">
          {c.isPinned && <span class="tag">pinned</span>}
          {marked && <span class="tag">marked</span>}
          {c.conversationType === GROUP ? '# ' : ''}
          {label}
        </span>
        <span class={`unread ${c.unreadMessageCount ? '' : 'zero'}`} data-testid="unread">
          {c.unreadMessageCount}
        </span>
        <span class="last">
          {c.draft ? <em>Draft: {c.draft}</em> : c.lastMessage ? messageText(c.lastMessage) : ''}
        </span>
      </button>
      <span class="actions">
        <button class="quiet" data-testid="pin" onClick={() => void session.attempt(() => session.pin(c))}>
          {c.isPinned ? 'unpin' : 'pin'}
        </button>
        <button class="quiet" data-testid="mark" onClick={() => void session.attempt(() => session.mark(c))}>
          {marked ? 'unmark' : 'mark'}
        </button>
        <button class="quiet" data-testid="delete-conversation" onClick={() => void session.attempt(() => session.deleteConversation(c))}>
          delete
        </button>
      </span>
    </li>
  )
}

function ChatView(props: { session: Session }) {
  const { session } = props
  const state = useStore(session.state)
  const selected = state.selected!
  const conversation = state.conversations.find((c) => c.conversationID === selected.conversationID && c.conversationType === selected.conversationType)
  const [text, setText] = useState(conversation?.draft ?? '')
  const [receipt, setReceipt] = useState(false)
  const [toLoginID, setToLoginID] = useState('')
  const list = useRef<HTMLOListElement>(null)
  const own = selected.conversationID === session.userID && selected.conversationType === PEER

  useEffect(() => {
    list.current?.lastElementChild?.scrollIntoView({ block: 'nearest' })
  }, [state.messages.length])

  const send = async (event: Event): Promise<void> => {
    event.preventDefault()
    const body = text.trim()
    if (!body) return
    await session.attempt(async () => {
      await session.send(body, { hasReceipt: receipt, toLoginID: own ? toLoginID : undefined })
      setText('')
      if (conversation?.draft) await session.draft(conversation, '')
    })
  }

  return (
    <div class="chat" data-testid="chat" data-id={selected.conversationID}>
      <h2>{own ? 'My devices' : selected.conversationID}</h2>
      {state.hasOlder && (
        <button class="quiet" data-testid="load-older" onClick={() => void session.attempt(() => session.loadOlder())}>
          Load older messages
        </button>
      )}
      <ol class="messages" ref={list} data-testid="messages">
        {state.messages.map((m) => (
          <MessageRow session={session} message={m} />
        ))}
      </ol>
      <form class="composer" onSubmit={send}>
        <input data-testid="composer" placeholder="Message" value={text} onInput={(e) => setText(e.currentTarget.value)} />
        {own ? (
          <select data-testid="to-device" value={toLoginID} onChange={(e) => setToLoginID(e.currentTarget.value)}>
            <option value="">all my other devices</option>
            {state.devices
              .filter((d) => d.loginID !== state.loginID)
              .map((d) => (
                <option value={d.loginID}>{`${d.platform} ${d.deviceName || d.deviceID}`}</option>
              ))}
          </select>
        ) : (
          <label class="check">
            <input type="checkbox" data-testid="with-receipt" checked={receipt} onChange={(e) => setReceipt(e.currentTarget.checked)} />
            receipt
          </label>
        )}
        <button data-testid="send">Send</button>
        {conversation && (
          <button type="button" class="quiet" data-testid="save-draft" onClick={() => void session.attempt(() => session.draft(conversation, text))}>
            Save draft
          </button>
        )}
      </form>
    </div>
  )
}

const RECEIPTS: Record<number, string> = { 0: '', 1: 'sent', 2: 'read' }

function MessageRow(props: { session: Session; message: Message }) {
  const { session, message: m } = props
  const mine = m.senderUserID === session.userID
  const receipt = mine ? RECEIPTS[m.receiptStatus] ?? '' : ''
  return (
    <li data-testid="message" data-message-id={m.messageID} class={`${mine ? 'mine' : 'theirs'} ${m.isRevoked ? 'revoked' : ''}`}>
      <span class="sender">{mine ? 'me' : m.senderUserID}</span>
      <span class="text" data-testid="message-text">
        {messageText(m)}
      </span>
      <span class="meta">
        {new Date(m.timestamp).toLocaleTimeString()}
        {receipt && (
          <>
            {' · '}
            <span class="receipt" data-testid="receipt">
              {receipt}
              {m.conversationType === GROUP && m.readMemberCount ? ` by ${m.readMemberCount}` : ''}
            </span>
          </>
        )}
      </span>
      {!m.isRevoked && (
        <span class="actions">
          {mine && (
            <button class="quiet" data-testid="revoke" onClick={() => void session.attempt(() => session.revoke(m))}>
              revoke
            </button>
          )}
          <button class="quiet" data-testid="delete-message" onClick={() => void session.attempt(() => session.deleteMessage(m))}>
            delete
          </button>
        </span>
      )}
    </li>
  )
}
