/** The sign-in form: a userID, and a pasted token when the server has no demo sign-in. */

import { useState } from 'preact/hooks'
import type { AppSettings } from '../signin'

export function SignIn(props: { settings: AppSettings; onSignIn: (userID: string, token: string | null) => Promise<void> }) {
  const [userID, setUserID] = useState('')
  const [token, setToken] = useState('')
  const [error, setError] = useState('')
  const [busy, setBusy] = useState(false)
  const demo = props.settings.demoSignin

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault()
    setBusy(true)
    setError('')
    try {
      await props.onSignIn(userID.trim(), demo ? null : token.trim())
    } catch (failure) {
      setError(String(failure instanceof Error ? failure.message : failure))
      setBusy(false)
    }
  }

  return (
    <main class="signin">
      <h1>hubbub</h1>
      <p class="hint">Every tab is a device of its own: sign in on several to see them agree.</p>
      <form onSubmit={submit}>
        <label>
          User ID
          <input data-testid="signin-user" value={userID} onInput={(e) => setUserID(e.currentTarget.value)} pattern="[A-Za-z0-9_.@:\-]{1,128}" required />
        </label>
        {!demo && (
          <label>
            Token (from <code>hubbub token USER_ID</code>)
            <input data-testid="signin-token" value={token} onInput={(e) => setToken(e.currentTarget.value)} required />
          </label>
        )}
        <button data-testid="signin-submit" disabled={busy}>
          {demo ? 'Sign in (demo)' : 'Sign in'}
        </button>
      </form>
      {error && <p class="error" data-testid="signin-error">{error}</p>}
    </main>
  )
}
