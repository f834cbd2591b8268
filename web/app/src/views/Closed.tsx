/** The screen of a tab that was signed out by the server: kicked, forced offline, or its token expired. */

import type { ClosedInfo } from '../session'

const KICK_REASONS: Record<string, string> = {
  policy: 'another device signed in and the login policy keeps only so many',
  sameDevice: 'this device signed in again somewhere else',
  self: 'one of your other devices signed this one out',
  admin: 'the administrator signed this device out',
}

export function describeClose(info: ClosedInfo): { title: string; detail: string } {
  switch (info.reason) {
    case 'kicked':
      return { title: 'Kicked out', detail: KICK_REASONS[info.kickReason ?? ''] ?? 'another login replaced this one' }
    case 'forcedOffline':
      return { title: 'Forced offline', detail: KICK_REASONS.admin! }
    case 'tokenExpired':
      return { title: 'Session expired', detail: 'the login token expired and was not renewed' }
    case 'logout':
      return { title: 'Signed out', detail: 'you signed out on this tab' }
    default:
      return { title: 'Disconnected', detail: `the connection closed (${info.reason}, code ${info.code})` }
  }
}

export function Closed(props: { info: ClosedInfo; onSignInAgain: () => void }) {
  const { title, detail } = describeClose(props.info)
  return (
    <main class="closed" data-testid="closed">
      <h1 data-testid="closed-title">{title}</h1>
      <p data-testid="closed-reason">{detail}</p>
      {props.info.kickReason && (
        <p class="meta">
          reason <b data-testid="closed-kick-reason">{props.info.kickReason}</b>
          {props.info.byPlatform && (
            <>
              {' '}
              by a <b data-testid="closed-by-platform">{props.info.byPlatform}</b> device
              {props.info.byLoginID && <span class="id"> ({props.info.byLoginID})</span>}
            </>
          )}
          {' '}· close code {props.info.code}
        </p>
      )}
      <button data-testid="signin-again" onClick={props.onSignInAgain}>
        Sign in again
      </button>
    </main>
  )
}
