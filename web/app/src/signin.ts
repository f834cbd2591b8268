/**
 * How a tab gets its settings, its device identity and its login tokens.
 *
 * Tokens come from the application's backend in a real deployment. Here
 * the app asks `hubbub serve --demo-signin` (loopback only) or takes a token
 * pasted from `hubbub token USER_ID`.
 */

export interface AppSettings {
  wsURL: string
  demoSignin: boolean
}

/** GET ./config.json from the server that served the app. */
export async function loadSettings(): Promise<AppSettings> {
  const response = await fetch('./config.json', { signal: AbortSignal.timeout(10_000) })
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`)
  return (await response.json()) as AppSettings
}

/** Mints (demo sign-in) or hands back (pasted) the login token of one user; asked again on renewal. */
export class TokenSource {
  constructor(
    private readonly settings: AppSettings,
    private readonly userID: string,
    private readonly pasted: string | null,
  ) {}

  async get(): Promise<string> {
    if (this.pasted) return this.pasted
    if (!this.settings.demoSignin) throw new Error('this server has no demo sign-in: paste a token from `hubbub token USER_ID`')
    const response = await fetch('./demo-signin', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userID: this.userID }),
      signal: AbortSignal.timeout(10_000),
    })
    const body = (await response.json()) as { token?: string; error?: string }
    if (!response.ok || !body.token) throw new Error(body.error ?? `demo sign-in: HTTP ${response.status}`)
    return body.token
  }
}

/**
 * This tab's device: a deviceID of its own (sessionStorage is per tab, so two
 * tabs are two devices) that survives a reload, with the signed-in user.
 */
export function tabIdentity(storage: Storage) {
  let deviceID = storage.getItem('hubbub.deviceID')
  if (!deviceID) {
    deviceID = `web-${crypto.randomUUID().slice(0, 8)}`
    storage.setItem('hubbub.deviceID', deviceID)
  }
  const device = deviceID
  return {
    deviceID: device,
    remembered(): { userID: string; token: string | null } | null {
      const userID = storage.getItem('hubbub.userID')
      return userID ? { userID, token: storage.getItem('hubbub.token') } : null
    },
    remember(userID: string, token: string | null): void {
      storage.setItem('hubbub.userID', userID)
      if (token) storage.setItem('hubbub.token', token)
      else storage.removeItem('hubbub.token')
    },
    forget(): void {
      storage.removeItem('hubbub.userID')
      storage.removeItem('hubbub.token')
    },
    /** The seq the client saved for this user on this device, if any (the key the Session's store uses). */
    savedSeq(userID: string): number | null {
      const text = storage.getItem(`hubbub.seq.${userID}.${device}`)
      return text === null ? null : Number(text)
    },
  }
}
