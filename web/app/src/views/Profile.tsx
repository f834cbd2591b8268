/** Profile: the user's name, shared by every device of the account (userInfoUpdated). */

import { useState } from 'preact/hooks'
import type { Session } from '../session'
import { useStore } from '../store'

export function Profile(props: { session: Session }) {
  const { session } = props
  const state = useStore(session.state)
  const [name, setName] = useState(state.userName)
  return (
    <div class="profile">
      <p>
        User ID <b>{session.userID}</b> · this tab is device <code>{session.deviceID}</code> (login <code>{state.loginID}</code>)
      </p>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault()
          void session.attempt(() => session.rename(name.trim()))
        }}
      >
        <input data-testid="profile-name" placeholder="your name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <button data-testid="profile-save">Save name</button>
      </form>
    </div>
  )
}
