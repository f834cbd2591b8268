/** Groups: create, invite, members with their roles, and the group's chat. */

import { useState } from 'preact/hooks'
import type { Session } from '../session'
import { useStore } from '../store'
import { GROUP, ROLE_NAMES } from '../wire'

const splitIDs = (text: string): string[] => text.split(/[\s,]+/).filter(Boolean)

export function Groups(props: { session: Session; onOpenChat: () => void }) {
  const { session } = props
  const state = useStore(session.state)
  const [name, setName] = useState('')
  const [members, setMembers] = useState('')
  const [invitees, setInvitees] = useState('')
  const open = state.groups.find((g) => g.groupID === state.openGroup)

  return (
    <div class="groups">
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault()
          void session.attempt(async () => {
            await session.createGroup(name.trim(), splitIDs(members))
            setName('')
            setMembers('')
          })
        }}
      >
        <input data-testid="group-name" placeholder="group name" value={name} onInput={(e) => setName(e.currentTarget.value)} required />
        <input data-testid="group-members" placeholder="members (userIDs)" value={members} onInput={(e) => setMembers(e.currentTarget.value)} />
        <button data-testid="group-create">Create group</button>
      </form>
      <ul data-testid="groups">
        {state.groups.map((g) => (
          <li data-testid="group" data-id={g.groupID} class={g.groupID === state.openGroup ? 'active' : ''}>
            <button class="row" onClick={() => void session.attempt(() => session.openGroup(g.groupID))}>
              # {g.groupName || g.groupID} <span class="meta">{ROLE_NAMES[g.memberRole]}</span>
            </button>
          </li>
        ))}
      </ul>
      {open && (
        <div class="group-detail" data-testid="group-detail">
          <h2>
            # {open.groupName || open.groupID}{' '}
            <button
              class="quiet"
              data-testid="group-chat"
              onClick={() =>
                void session.attempt(async () => {
                  await session.openConversation(open.groupID, GROUP)
                  props.onOpenChat()
                })
              }
            >
              open chat
            </button>
          </h2>
          <ul data-testid="group-members-list">
            {state.groupMembers.map((m) => (
              <li data-testid="group-member" data-id={m.userID}>
                {m.userID} <span class="role">{ROLE_NAMES[m.memberRole]}</span>
                {open.memberRole === 1 && m.memberRole !== 1 && (
                  <button
                    class="quiet"
                    onClick={() => void session.attempt(() => session.setRole(open.groupID, m.userID, m.memberRole === 2 ? 3 : 2))}
                  >
                    {m.memberRole === 2 ? 'make member' : 'make admin'}
                  </button>
                )}
              </li>
            ))}
          </ul>
          <form
            class="inline"
            onSubmit={(e) => {
              e.preventDefault()
              void session.attempt(async () => {
                await session.invite(open.groupID, splitIDs(invitees))
                setInvitees('')
              })
            }}
          >
            <input data-testid="group-invite-users" placeholder="invite userIDs" value={invitees} onInput={(e) => setInvitees(e.currentTarget.value)} />
            <button data-testid="group-invite">Invite</button>
          </form>
        </div>
      )}
    </div>
  )
}
