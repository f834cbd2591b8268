/** Calls: invite someone, the call's states, and the incoming-call popup shared by every tab of the account. */

import { useState } from 'preact/hooks'
import type { Session } from '../session'
import { useStore } from '../store'
import { CALL_ACCEPTED, CALL_STATE_NAMES } from '../wire'

export function CallPanel(props: { session: Session }) {
  const { session } = props
  const state = useStore(session.state)
  const [callee, setCallee] = useState('')
  const call = state.call
  return (
    <div class="calls">
      {!call && (
        <form
          class="inline"
          onSubmit={(e) => {
            e.preventDefault()
            void session.attempt(() => session.callUser(callee.trim()))
          }}
        >
          <input data-testid="call-user" placeholder="call userID" value={callee} onInput={(e) => setCallee(e.currentTarget.value)} required />
          <button data-testid="call-start">Call</button>
        </form>
      )}
      {call && (
        <div class="call" data-testid="call">
          <h2>Call {call.callID}</h2>
          <ul>
            {call.users.map((u) => (
              <li data-testid="call-user-state" data-id={u.userID}>
                {u.userID}: <b>{CALL_STATE_NAMES[u.state] ?? u.state}</b>
              </li>
            ))}
          </ul>
          {call.inviter === session.userID && !call.users.some((u) => u.state === CALL_ACCEPTED) ? (
            <button class="danger" data-testid="call-cancel" onClick={() => void session.attempt(() => session.cancelCall())}>
              Cancel
            </button>
          ) : (
            <button data-testid="call-end" onClick={() => void session.attempt(() => session.hangUp())}>
              End call
            </button>
          )}
        </div>
      )}
      {state.lastCallNotice && (
        <p class="meta" data-testid="call-notice">
          {state.lastCallNotice}
        </p>
      )}
    </div>
  )
}

export function IncomingCallPopup(props: { session: Session }) {
  const { session } = props
  const state = useStore(session.state)
  const incoming = state.incomingCall
  if (!incoming) return null
  return (
    <div class="popup" role="dialog" data-testid="incoming-call" data-call-id={incoming.callID}>
      <p>
        <b>{incoming.inviter}</b> is calling
      </p>
      <button data-testid="call-accept" onClick={() => void session.attempt(() => session.answer(true))}>
        Accept
      </button>
      <button class="danger" data-testid="call-reject" onClick={() => void session.attempt(() => session.answer(false))}>
        Reject
      </button>
    </div>
  )
}
