/** Rooms: enter, members, live messages, and the state of a room entered on another device (event 10). */

import { useState } from 'preact/hooks'
import type { Session } from '../session'
import { useStore } from '../store'
import { messageText } from '../wire'

export function Rooms(props: { session: Session }) {
  const { session } = props
  const state = useStore(session.state)
  const [roomID, setRoomID] = useState('')
  const [text, setText] = useState('')
  const room = state.room

  if (!room) {
    return (
      <form
        class="inline rooms"
        onSubmit={(e) => {
          e.preventDefault()
          void session.attempt(() => session.enterRoom(roomID.trim()))
        }}
      >
        <input data-testid="room-id" placeholder="room ID" value={roomID} onInput={(e) => setRoomID(e.currentTarget.value)} required />
        <button data-testid="room-enter">Enter room</button>
      </form>
    )
  }
  return (
    <div class="room" data-testid="room" data-state={room.state}>
      <h2>
        Room {room.roomName}{' '}
        <button class="quiet" data-testid="room-leave" onClick={() => void session.attempt(() => session.leaveRoom())}>
          {room.state === 'in' ? 'leave' : 'close'}
        </button>
      </h2>
      {room.state === 'elsewhere' && (
        <p class="warning" data-testid="room-elsewhere">
          You entered this room on another device; this tab no longer receives its messages.
        </p>
      )}
      <p class="meta" data-testid="room-members">
        members: {room.members.join(', ')}
      </p>
      <ol class="messages">
        {room.messages.map((m) => (
          <li data-testid="room-message" class={m.senderUserID === session.userID ? 'mine' : 'theirs'}>
            <span class="sender">{m.senderUserID}</span> <span class="text">{messageText(m)}</span>
          </li>
        ))}
      </ol>
      {room.state === 'in' && (
        <form
          class="composer"
          onSubmit={(e) => {
            e.preventDefault()
            void session.attempt(async () => {
              await session.sayInRoom(text.trim())
              setText('')
            })
          }}
        >
          <input data-testid="room-composer" value={text} onInput={(e) => setText(e.currentTarget.value)} required />
          <button data-testid="room-send">Send</button>
        </form>
      )}
    </div>
  )
}
