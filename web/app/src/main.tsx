/** The app's entry: read the server's settings, sign in (or resume this tab's sign-in), show the account. */

import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { Session } from './session'
import { type AppSettings, loadSettings, tabIdentity, TokenSource } from './signin'
import { SignIn } from './views/SignIn'
import { AccountScreen } from './views/AccountScreen'
import './styles.css'

function App() {
  const [settings, setSettings] = useState<AppSettings | null>(null)
  const [session, setSession] = useState<Session | null>(null)
  const [failure, setFailure] = useState('')

  useEffect(() => {
    loadSettings()
      .then(setSettings)
      .catch((error: unknown) => setFailure(`cannot read the server's settings: ${String(error)}`))
  }, [])

  const begin = async (userID: string, pastedToken: string | null): Promise<void> => {
    if (!settings) return
    const identity = tabIdentity(sessionStorage)
    const tokens = new TokenSource(settings, userID, pastedToken)
    await tokens.get() // a refused sign-in shows here, before any connection
    identity.remember(userID, pastedToken)
    const next = new Session({ url: settings.wsURL, userID, deviceID: identity.deviceID, token: () => tokens.get(), storage: sessionStorage })
    setSession(next)
    await next.start(identity.savedSeq(userID))
  }

  useEffect(() => {
    // a reloaded tab signs in again as the same device and resumes from its saved seq
    if (!settings || session) return
    const remembered = tabIdentity(sessionStorage).remembered()
    if (remembered) begin(remembered.userID, remembered.token).catch((error: unknown) => setFailure(String(error)))
  }, [settings])

  if (failure) return <main class="failure" data-testid="failure">{failure}</main>
  if (!settings) return <main class="loading">loading…</main>
  if (!session) return <SignIn settings={settings} onSignIn={begin} />
  return (
    <AccountScreen
      session={session}
      onSignOut={() => {
        tabIdentity(sessionStorage).forget()
        setSession(null)
      }}
    />
  )
}

render(<App />, document.getElementById('app')!)
