/**
 * One signed-in tab: a device of one account. Holds what the tab shows and
 * keeps it in step with the server's events; the views only read the store
 * and call the actions here.
 */

import { HubbubClient, HubbubError, localStorageSeqStore } from '@hubbub/client'
import { Store } from './store'
import {
  CALL_ACCEPTED,
  CALL_REJECTED,
  type CallUser,
  type Conversation,
  type DeviceInfo,
  type Friend,
  type FriendApplication,
  GROUP,
  type GroupMember,
  type GroupSummary,
  type Message,
  PEER,
  type ReceiptInfo,
  ROOM,
} from './wire'

type Payload = Record<string, any>

export interface ClosedInfo {
  code: number
  reason: string
  /** From connectionStateChanged's extendedData when the server said why (§3). */
  kickReason: string | null
  byPlatform: string | null
  byLoginID: string | null
}

export interface SyncInfo {
  /** The seq this tab resumed from, or null for a first login. */
  resumeFrom: number | null
  /** The account's newest seq when this tab logged in. */
  loginSeq: number
  resumeGap: boolean
  /** Every durable seq received since the login, in arrival order. */
  received: number[]
}

export interface Selected {
  conversationID: string
  conversationType: number
}

export interface RoomView {
  roomID: string
  roomName: string
  members: string[]
  messages: Message[]
  /** 'in': this tab is the member; 'elsewhere': the user entered on another device (event 10). */
  state: 'in' | 'elsewhere'
}

export interface IncomingCall {
  callID: string
  inviter: string
  extendedData: string
}

export interface ActiveCall {
  callID: string
  inviter: string
  users: CallUser[]
  ended: boolean
}

export interface State {
  phase: 'connecting' | 'online' | 'reconnecting' | 'closed' | 'failed'
  loginID: string
  devices: DeviceInfo[]
  conversations: Conversation[]
  totalUnread: number
  selected: Selected | null
  messages: Message[]
  hasOlder: boolean
  groups: GroupSummary[]
  openGroup: string | null
  groupMembers: GroupMember[]
  friends: Friend[]
  applications: FriendApplication[]
  userName: string
  room: RoomView | null
  incomingCall: IncomingCall | null
  lastCallNotice: string
  call: ActiveCall | null
  sync: SyncInfo
  closed: ClosedInfo | null
  notice: string
}

export interface SessionOptions {
  url: string
  userID: string
  deviceID: string
  token: () => Promise<string>
  storage: Storage
}

const PAGE = 20

export class Session {
  readonly userID: string
  readonly deviceID: string
  readonly state: Store<State>
  private readonly client: HubbubClient
  private requery: ReturnType<typeof setTimeout> | null = null
  private answeredHere = new Set<string>()

  constructor(options: SessionOptions) {
    this.userID = options.userID
    this.deviceID = options.deviceID
    this.state = new Store<State>({
      phase: 'connecting',
      loginID: '',
      devices: [],
      conversations: [],
      totalUnread: 0,
      selected: null,
      messages: [],
      hasOlder: false,
      groups: [],
      openGroup: null,
      groupMembers: [],
      friends: [],
      applications: [],
      userName: '',
      room: null,
      incomingCall: null,
      lastCallNotice: '',
      call: null,
      sync: { resumeFrom: null, loginSeq: 0, resumeGap: false, received: [] },
      closed: null,
      notice: '',
    })
    this.client = new HubbubClient({
      url: options.url,
      userID: options.userID,
      platform: 'Web',
      deviceID: options.deviceID,
      deviceName: browserName(),
      token: options.token,
      seqStore: localStorageSeqStore(`hubbub.seq.${options.userID}.${options.deviceID}`, options.storage),
      autoReconnect: true,
    })
    this.listen()
  }

  /**
   * Log in (resuming from the seq this tab saved, if any) and load what the tab shows.
   * A refused or failed login leaves the tab in phase 'failed' with the reason as its notice.
   */
  async start(resumeFrom: number | null): Promise<void> {
    this.state.set((s) => ({ sync: { ...s.sync, resumeFrom } }))
    let login: Payload
    try {
      login = (await this.client.connect()) as Payload
    } catch (error) {
      this.state.set({ phase: 'failed', notice: describeError(error) })
      return
    }
    this.state.set((s) => ({
      phase: 'online',
      loginID: login.loginID,
      devices: login.devices,
      sync: { ...s.sync, loginSeq: login.seq, resumeGap: login.resumeGap },
    }))
    await this.attempt(() => Promise.all([this.loadConversations(), this.loadGroups(), this.loadFriends(), this.loadProfile()]))
  }

  /** Sign out this device (other devices get selfDevicesChanged). */
  async logout(): Promise<void> {
    await this.client.logout()
  }

  close(): void {
    this.client.close()
  }

  // ---- events ----------------------------------------------------------------

  private listen(): void {
    const on = (name: string, handler: (ev: Payload) => void): void => {
      this.client.on(name, (ev: Payload) => {
        if (typeof ev.seq === 'number') {
          const seq = ev.seq
          this.state.set((s) => ({ sync: { ...s.sync, received: [...s.sync.received, seq] } }))
        }
        handler(ev)
      })
    }
    this.client.on('closed', (info) => {
      if (info.willReconnect) {
        this.state.set({ phase: 'reconnecting' })
        return
      }
      const kick = info.extendedData ?? {}
      const text = (field: string): string | null => (typeof kick[field] === 'string' ? (kick[field] as string) : null)
      this.state.set({
        phase: 'closed',
        incomingCall: null,
        closed: { code: info.code, reason: info.reason, kickReason: text('reason'), byPlatform: text('byPlatform'), byLoginID: text('byLoginID') },
      })
    })
    this.client.on('connected', ({ login, resumed }) => {
      // a reconnect resumed: this device has a new loginID, and the device list may have changed
      this.state.set({ phase: 'online', loginID: login.loginID, devices: login.devices })
      if (resumed && login.resumeGap) {
        // too far behind for a replay: load again what the tab shows
        void this.attempt(() => Promise.all([this.loadConversations(), this.loadGroups(), this.loadFriends()]))
      }
    })
    on('selfDevicesChanged', (ev) => this.state.set({ devices: ev.devices }))

    on('conversationChanged', (ev) => {
      this.state.set((s) => ({ conversations: applyConversationChanges(s.conversations, ev.infoList) }))
      this.scheduleRequery()
    })
    on('conversationTotalUnreadMessageCountUpdated', (ev) => this.state.set({ totalUnread: ev.totalUnreadMessageCount }))
    on('conversationsAllDeleted', () => this.scheduleRequery())

    for (const name of ['peerMessageReceived', 'groupMessageReceived']) {
      on(name, (ev) => this.received(ev.messageList as Message[]))
    }
    on('messageRevokeReceived', (ev) => this.replaceMessages(ev.messageList as Message[]))
    on('messageDeleted', (ev) => {
      const selected = this.state.get().selected
      if (!selected || ev.conversationID !== selected.conversationID) return
      if (ev.messageDeleteType === 0) {
        const gone = new Set((ev.messageList as Message[]).map((m) => m.messageID))
        this.state.set((s) => ({ messages: s.messages.filter((m) => !gone.has(m.messageID)) }))
      } else {
        this.state.set({ messages: [], hasOlder: false })
      }
    })
    on('messageReceiptChanged', (ev) => this.receipts(ev.infos as ReceiptInfo[]))
    on('userInfoUpdated', (ev) => this.state.set({ userName: ev.info?.baseInfo?.userName ?? '' }))

    for (const name of ['friendListChanged', 'friendApplicationListChanged']) {
      on(name, () => void this.loadFriends())
    }
    for (const name of ['groupStateChanged', 'groupMemberStateChanged', 'groupMemberInfoUpdated', 'groupNameUpdated']) {
      on(name, () => {
        void this.loadGroups()
        const open = this.state.get().openGroup
        if (open) void this.openGroup(open)
      })
    }

    on('roomStateChanged', (ev) => {
      const room = this.state.get().room
      if (!room || room.roomID !== ev.roomID) return
      if (ev.state === 0 && ev.event === 10) this.state.set({ room: { ...room, state: 'elsewhere' } })
    })
    on('roomMemberJoined', (ev) => this.roomMembers(ev.roomID, ev.memberList, true))
    on('roomMemberLeft', (ev) => this.roomMembers(ev.roomID, ev.memberList, false))
    on('roomMessageReceived', (ev) => {
      const room = this.state.get().room
      if (!room || room.roomID !== ev.fromConversationID) return
      this.state.set({ room: { ...room, messages: [...room.messages, ...(ev.messageList as Message[])] } })
    })

    on('callInvitationReceived', (ev) =>
      this.state.set({ incomingCall: { callID: ev.callID, inviter: ev.inviter, extendedData: ev.extendedData ?? '' } }),
    )
    on('callUserStateChanged', (ev) => this.callStates(ev.callID, ev.callUserList as CallUser[]))
    for (const name of ['callInvitationCancelled', 'callInvitationTimeout']) {
      on(name, (ev) => {
        const incoming = this.state.get().incomingCall
        if (incoming && incoming.callID === ev.callID) {
          this.state.set({ incomingCall: null, lastCallNotice: name === 'callInvitationCancelled' ? 'call cancelled' : 'call timed out' })
        }
      })
    }
  }

  private scheduleRequery(): void {
    // Many changes arrive together (a message, its unread count, its conversation):
    // one query after them gives the server's own order.
    if (this.requery !== null) return
    this.requery = setTimeout(() => {
      this.requery = null
      void this.loadConversations()
    }, 50)
  }

  private received(messages: Message[]): void {
    const selected = this.state.get().selected
    const shown = messages.filter(
      (m) => selected && m.conversationID === selected.conversationID && m.conversationType === selected.conversationType,
    )
    if (shown.length === 0) return
    this.state.set((s) => ({ messages: mergeMessages(s.messages, shown) }))
    if (document.visibilityState === 'visible') void this.markRead(shown)
  }

  private replaceMessages(messages: Message[]): void {
    const byID = new Map(messages.map((m) => [m.messageID, m]))
    this.state.set((s) => ({ messages: s.messages.map((m) => byID.get(m.messageID) ?? m) }))
  }

  private receipts(infos: ReceiptInfo[]): void {
    const byID = new Map(infos.map((i) => [i.messageID, i]))
    this.state.set((s) => ({
      messages: s.messages.map((m) => {
        const info = byID.get(m.messageID)
        return info ? { ...m, receiptStatus: info.status, readMemberCount: info.readMemberCount } : m
      }),
    }))
  }

  private roomMembers(roomID: string, list: { userID: string }[], joined: boolean): void {
    const room = this.state.get().room
    if (!room || room.roomID !== roomID) return
    const users = list.map((u) => u.userID)
    const members = joined ? [...new Set([...room.members, ...users])] : room.members.filter((u) => !users.includes(u))
    this.state.set({ room: { ...room, members } })
  }

  private callStates(callID: string, users: CallUser[]): void {
    const { incomingCall, call } = this.state.get()
    if (incomingCall && incomingCall.callID === callID && !this.answeredHere.has(callID)) {
      const mine = users.find((u) => u.userID === this.userID)
      if (mine && (mine.state === CALL_ACCEPTED || mine.state === CALL_REJECTED)) {
        const how = mine.state === CALL_ACCEPTED ? 'accepted' : 'rejected'
        this.state.set({ incomingCall: null, lastCallNotice: `call ${how} on another device` })
      }
    }
    if (call && call.callID === callID) {
      const byUser = new Map(call.users.map((u) => [u.userID, u]))
      for (const u of users) byUser.set(u.userID, u)
      this.state.set({ call: { ...call, users: [...byUser.values()] } })
    }
  }

  // ---- actions ---------------------------------------------------------------

  /** Run `action`; a refusal shows as the tab's notice instead of an exception. */
  async attempt(action: () => Promise<unknown>): Promise<void> {
    try {
      await action()
      this.state.set({ notice: '' })
    } catch (error) {
      this.state.set({ notice: describeError(error) })
    }
  }

  async request(op: string, fields: Payload = {}): Promise<Payload> {
    return (await this.client.request(op, fields)) as Payload
  }

  async loadConversations(): Promise<void> {
    const reply = await this.request('queryConversationList', { config: { count: 100 } })
    const conversations = reply.conversationList as Conversation[]
    this.state.set({ conversations, totalUnread: conversations.reduce((n, c) => n + c.unreadMessageCount, 0) })
  }

  async openConversation(conversationID: string, conversationType: number): Promise<void> {
    this.state.set({ selected: { conversationID, conversationType }, messages: [], hasOlder: false })
    const reply = await this.request('queryHistoryMessage', { conversationID, conversationType, config: { count: PAGE } })
    const page = reply.messageList as Message[]
    this.state.set({ messages: mergeMessages([], page), hasOlder: page.length === PAGE })
    await this.markRead(page)
  }

  async loadOlder(): Promise<void> {
    const { selected, messages } = this.state.get()
    if (!selected || messages.length === 0) return
    const oldest = messages[0]!.messageSeq
    const reply = await this.request('queryHistoryMessage', { ...selected, config: { count: PAGE, nextMessageSeq: oldest } })
    const page = reply.messageList as Message[]
    this.state.set((s) => ({ messages: mergeMessages(s.messages, page), hasOlder: page.length === PAGE }))
  }

  private async markRead(messages: Message[]): Promise<void> {
    const selected = this.state.get().selected
    if (!selected || selected.conversationType === ROOM) return
    const conversation = this.state.get().conversations.find((c) => c.conversationID === selected.conversationID)
    if (conversation && conversation.unreadMessageCount > 0) {
      await this.request('clearConversationUnreadMessageCount', selected)
      await this.loadConversations()
    }
    const wanted = messages.filter((m) => m.direction === 1 && m.receiptStatus === 1 && !m.isRevoked).map((m) => m.messageID)
    if (wanted.length > 0) await this.request('sendMessageReceiptsRead', { ...selected, messageIDs: wanted })
  }

  async send(text: string, options: { hasReceipt: boolean; toLoginID?: string }): Promise<void> {
    const selected = this.state.get().selected
    if (!selected) return
    const fields: Payload = {
      toConversationID: selected.conversationID,
      conversationType: selected.conversationType,
      message: { type: 1, message: text },
      config: { hasReceipt: options.hasReceipt },
      clientMessageID: crypto.randomUUID(),
    }
    if (options.toLoginID) fields.toLoginID = options.toLoginID
    const reply = await this.request('sendMessage', fields)
    this.state.set((s) => ({ messages: mergeMessages(s.messages, [reply.message as Message]) }))
  }

  async revoke(message: Message): Promise<void> {
    const reply = await this.request('revokeMessage', {
      conversationID: message.conversationID,
      conversationType: message.conversationType,
      messageID: message.messageID,
    })
    this.replaceMessages([reply.message as Message])
  }

  async deleteMessage(message: Message): Promise<void> {
    await this.request('deleteMessages', {
      conversationID: message.conversationID,
      conversationType: message.conversationType,
      messageIDs: [message.messageID],
      config: { isAlsoDeleteServerMessage: true },
    })
    this.state.set((s) => ({ messages: s.messages.filter((m) => m.messageID !== message.messageID) }))
  }

  async pin(c: Conversation): Promise<void> {
    await this.request('updateConversationPinnedState', { ...key(c), isPinned: !c.isPinned })
    await this.loadConversations() // the acting device gets the reply, not the event
  }

  async mark(c: Conversation): Promise<void> {
    await this.request('updateConversationMark', { ...key(c), marks: [1], isMarked: !c.marks.includes(1) })
    await this.loadConversations() // the acting device gets the reply, not the event
  }

  async draft(c: Conversation, draft: string): Promise<void> {
    await this.request('setConversationDraft', { ...key(c), draft })
    await this.loadConversations() // the acting device gets the reply, not the event
  }

  async deleteConversation(c: Conversation): Promise<void> {
    await this.request('deleteConversation', { ...key(c), config: { isAlsoDeleteServerConversation: true } })
    await this.loadConversations()
    const selected = this.state.get().selected
    if (selected && selected.conversationID === c.conversationID) this.state.set({ selected: null, messages: [] })
  }

  async kickDevice(loginID: string): Promise<void> {
    await this.request('kickDevice', { loginID })
  }

  // groups
  async loadGroups(): Promise<void> {
    const reply = await this.request('queryGroupList')
    this.state.set({ groups: reply.groupList as GroupSummary[] })
  }

  async createGroup(groupName: string, userIDs: string[]): Promise<void> {
    const reply = await this.request('createGroup', { groupInfo: { groupName }, userIDs })
    await this.loadGroups()
    await this.openGroup(reply.groupInfo.groupID as string)
  }

  async openGroup(groupID: string): Promise<void> {
    const reply = await this.request('queryGroupMemberList', { groupID, config: { count: 100, nextFlag: 0 } })
    this.state.set({ openGroup: groupID, groupMembers: reply.userList as GroupMember[] })
  }

  async invite(groupID: string, userIDs: string[]): Promise<void> {
    await this.request('inviteUsersIntoGroup', { groupID, userIDs })
    await this.openGroup(groupID)
  }

  async setRole(groupID: string, userID: string, role: number): Promise<void> {
    await this.request('setGroupMemberRole', { groupID, userID, role })
    await this.openGroup(groupID)
  }

  // friends and profile
  async loadFriends(): Promise<void> {
    const [friends, applications] = await Promise.all([this.request('queryFriendList'), this.request('queryFriendApplicationList')])
    this.state.set({ friends: friends.friendList as Friend[], applications: applications.applicationList as FriendApplication[] })
  }

  /** A friend operation (addFriend, acceptFriendApplication, ...); this device reloads, the others get the event. */
  async befriend(op: string, fields: Payload): Promise<void> {
    await this.request(op, fields)
    await this.loadFriends()
  }

  async loadProfile(): Promise<void> {
    const reply = await this.request('queryUsersInfo', { userIDs: [this.userID] })
    const me = (reply.userList as Payload[])[0]
    this.state.set({ userName: me?.baseInfo?.userName ?? me?.userName ?? '' })
  }

  async rename(userName: string): Promise<void> {
    await this.request('updateUserName', { userName })
    this.state.set({ userName })
  }

  // rooms
  async enterRoom(roomID: string): Promise<void> {
    const reply = await this.request('enterRoom', { roomInfo: { roomID, roomName: roomID } })
    const members = await this.request('queryRoomMemberList', { roomID, config: { count: 100, nextFlag: '' } })
    this.state.set({
      room: {
        roomID,
        roomName: reply.roomInfo.roomName as string,
        members: (members.memberList as { userID: string }[]).map((m) => m.userID),
        messages: [],
        state: 'in',
      },
    })
  }

  async leaveRoom(): Promise<void> {
    const room = this.state.get().room
    if (!room) return
    if (room.state === 'in') await this.request('leaveRoom', { roomID: room.roomID })
    this.state.set({ room: null })
  }

  async sayInRoom(text: string): Promise<void> {
    const room = this.state.get().room
    if (!room) return
    const reply = await this.request('sendMessage', {
      toConversationID: room.roomID,
      conversationType: ROOM,
      message: { type: 1, message: text },
      clientMessageID: crypto.randomUUID(),
    })
    this.state.set({ room: { ...room, messages: [...room.messages, reply.message as Message] } })
  }

  // calls
  async callUser(userID: string): Promise<void> {
    const reply = await this.request('callInvite', { invitees: [userID], config: { timeout: 60 } })
    this.state.set({
      call: { callID: reply.callID as string, inviter: this.userID, users: [{ userID, state: 0 }], ended: false },
    })
  }

  async answer(accept: boolean): Promise<void> {
    const incoming = this.state.get().incomingCall
    if (!incoming) return
    this.answeredHere.add(incoming.callID)
    await this.request(accept ? 'callAccept' : 'callReject', { callID: incoming.callID, config: {} })
    this.state.set({
      incomingCall: null,
      lastCallNotice: accept ? 'call accepted here' : 'call rejected here',
      call: accept ? { callID: incoming.callID, inviter: incoming.inviter, users: [], ended: false } : null,
    })
  }

  /** Withdraw this tab's invitation before anyone accepted it. */
  async cancelCall(): Promise<void> {
    const call = this.state.get().call
    if (!call) return
    await this.request('callCancel', { callID: call.callID, invitees: call.users.map((u) => u.userID), config: {} })
    this.state.set({ call: null, lastCallNotice: 'call cancelled' })
  }

  async hangUp(): Promise<void> {
    const call = this.state.get().call
    if (!call) return
    await this.request('callEnd', { callID: call.callID, config: {} })
    this.state.set({ call: null })
  }
}

function describeError(error: unknown): string {
  if (error instanceof HubbubError) return `${error.code}: ${error.message}`
  return error instanceof Error ? error.message : String(error)
}

function key(c: Conversation): Selected {
  return { conversationID: c.conversationID, conversationType: c.conversationType }
}

/** Oldest first, one entry per messageID (a newer copy replaces an older one). */
export function mergeMessages(current: Message[], more: Message[]): Message[] {
  const byID = new Map(current.map((m) => [m.messageID, m]))
  for (const m of more) byID.set(m.messageID, m)
  return [...byID.values()].sort((a, b) => a.messageSeq - b.messageSeq)
}

function applyConversationChanges(list: Conversation[], infos: { event: number; conversation: Conversation }[]): Conversation[] {
  let result = list
  for (const { event, conversation } of infos) {
    const rest = result.filter(
      (c) => !(c.conversationID === conversation.conversationID && c.conversationType === conversation.conversationType),
    )
    result = event === 3 ? rest : [conversation, ...rest]
  }
  // the server's order: pinned first, then the newest (the same as queryConversationList)
  return [...result].sort(
    (a, b) =>
      Number(b.isPinned) - Number(a.isPinned) ||
      b.orderKey - a.orderKey ||
      a.conversationType - b.conversationType ||
      (a.conversationID < b.conversationID ? -1 : a.conversationID > b.conversationID ? 1 : 0),
  )
}

function browserName(): string {
  const agent = navigator.userAgent
  const name = /Firefox\//.test(agent) ? 'Firefox' : /Edg\//.test(agent) ? 'Edge' : /Chrom/.test(agent) ? 'Chromium' : 'Browser'
  return `${name} tab`
}

export { GROUP, PEER }
