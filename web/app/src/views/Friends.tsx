/** Friends: send a request, accept or reject the ones received, the friend list. */

import { useState } from 'preact/hooks'
import type { Session } from '../session'
import { useStore } from '../store'

export function Friends(props: { session: Session }) {
  const { session } = props
  const state = useStore(session.state)
  const [userID, setUserID] = useState('')
  const pending = state.applications.filter((a) => a.state === 0)

  return (
    <div class="friends">
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault()
          void session.attempt(async () => {
            await session.befriend('addFriend', { userID: userID.trim(), wording: `hi from ${session.userID}` })
            setUserID('')
          })
        }}
      >
        <input data-testid="friend-user" placeholder="add friend (userID)" value={userID} onInput={(e) => setUserID(e.currentTarget.value)} required />
        <button data-testid="friend-add">Send request</button>
      </form>
      <h2>Requests</h2>
      <ul data-testid="friend-requests">
        {pending.map((a) => {
          const incoming = a.toUser.userID === session.userID
          const other = incoming ? a.applyUser.userID : a.toUser.userID
          return (
            <li data-testid="friend-request" data-id={other}>
              {incoming ? `${other} wants to be friends` : `waiting for ${other}`}
              {a.wording && <span class="meta"> “{a.wording}”</span>}
              {incoming && (
                <>
                  <button data-testid="friend-accept" onClick={() => void session.attempt(() => session.befriend('acceptFriendApplication', { userID: other }))}>
                    accept
                  </button>
                  <button class="quiet" onClick={() => void session.attempt(() => session.befriend('rejectFriendApplication', { userID: other }))}>
                    reject
                  </button>
                </>
              )}
            </li>
          )
        })}
      </ul>
      <h2>Friends</h2>
      <ul data-testid="friend-list">
        {state.friends.map((f) => (
          <li data-testid="friend" data-id={f.userID}>
            {f.userID}
            <button class="quiet" onClick={() => void session.attempt(() => session.befriend('deleteFriends', { userIDs: [f.userID] }))}>
              remove
            </button>
          </li>
        ))}
      </ul>
    </div>
  )
}
