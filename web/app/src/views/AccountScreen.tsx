/** A signed-in tab: the header, this account's devices, the sections, and the incoming-call popup. */

import { useState } from 'preact/hooks'
import type { Session, SyncInfo } from '../session'
import { useStore } from '../store'
import { CallPanel, IncomingCallPopup } from './Calls'
import { Chats } from './Chats'
import { Closed } from './Closed'
import { Devices } from './Devices'
import { Friends } from './Friends'
import { Groups } from './Groups'
import { Profile } from './Profile'
import { Rooms } from './Rooms'

const SECTIONS = ['chats', 'groups', 'friends', 'rooms', 'calls', 'profile'] as const
type Section = (typeof SECTIONS)[number]

/** What the tab says about its catch-up after a reload: resumed from which seq, how many replayed, any gap. */
export function describeSync(sync: SyncInfo): string {
  if (sync.resumeFrom === null) return `new device · seq ${sync.loginSeq}`
  if (sync.resumeGap) return `resumed from ${sync.resumeFrom}: too far behind, reloaded`
  const missed = sync.loginSeq - sync.resumeFrom
  const replayed = sync.received.filter((s) => s > sync.resumeFrom! && s <= sync.loginSeq)
  const expected = Array.from({ length: Math.max(missed, 0) }, (_, i) => sync.resumeFrom! + 1 + i)
  const exact = replayed.length === expected.length && replayed.every((s, i) => s === expected[i])
  if (replayed.length < missed && replayed.every((s, i) => s === expected[i])) {
    return `resumed from ${sync.resumeFrom}: ${replayed.length} of ${missed} missed events replayed…`
  }
  return exact
    ? `resumed from ${sync.resumeFrom}: ${missed} missed events replayed, no gap`
    : `resumed from ${sync.resumeFrom}: replay out of order (${replayed.join(', ')})`
}

export function AccountScreen(props: { session: Session; onSignOut: () => void }) {
  const { session } = props
  const state = useStore(session.state)
  const [section, setSection] = useState<Section>('chats')

  if (state.phase === 'failed') {
    return (
      <main class="closed" data-testid="failed">
        <h1>Could not sign in</h1>
        <p data-testid="failed-reason">{state.notice}</p>
        <button onClick={() => location.reload()}>Try again</button>
      </main>
    )
  }
  if (state.phase === 'closed' && state.closed) {
    return <Closed info={state.closed} onSignInAgain={() => location.reload()} />
  }

  return (
    <div class="account">
      <header>
        <span class="brand">hubbub</span>
        <span class="me" data-testid="me">
          {state.userName || session.userID}
        </span>
        <span class={`phase ${state.phase}`} data-testid="phase">
          {state.phase}
        </span>
        <span class={`total ${state.totalUnread ? '' : 'zero'}`} title="unread messages in all conversations">
          unread <b data-testid="total-unread">{state.totalUnread}</b>
        </span>
        <span class="sync" data-testid="sync">
          {describeSync(state.sync)}
        </span>
        <button
          class="quiet"
          data-testid="sign-out"
          onClick={() =>
            void session.attempt(async () => {
              await session.logout()
              props.onSignOut()
            })
          }
        >
          Sign out
        </button>
      </header>
      <aside>
        <Devices session={session} />
        <nav>
          {SECTIONS.map((name) => (
            <button class={name === section ? 'active' : ''} data-testid={`section-${name}`} onClick={() => setSection(name)}>
              {name}
            </button>
          ))}
        </nav>
      </aside>
      <section class="content">
        {state.notice && (
          <p class="error" data-testid="notice">
            {state.notice}
          </p>
        )}
        {section === 'chats' && <Chats session={session} />}
        {section === 'groups' && <Groups session={session} onOpenChat={() => setSection('chats')} />}
        {section === 'friends' && <Friends session={session} />}
        {section === 'rooms' && <Rooms session={session} />}
        {section === 'calls' && <CallPanel session={session} />}
        {section === 'profile' && <Profile session={session} />}
      </section>
      <IncomingCallPopup session={session} />
    </div>
  )
}
