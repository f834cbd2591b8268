/** The parts of the wire (PROTOCOL.md) the app reads, as it reads them, beside the client's own types. */

export type { DeviceInfo } from '@hubbub/client'

export interface Message {
  messageID: string
  clientMessageID: string | null
  conversationID: string
  conversationType: number
  senderUserID: string
  type: number
  message: string | Uint8Array
  extendedData: string
  timestamp: number
  messageSeq: number
  direction: number
  receiptStatus: number
  isRevoked: boolean
  readMemberCount?: number
}

export interface Conversation {
  conversationID: string
  conversationType: number
  conversationName: string
  unreadMessageCount: number
  lastMessage: Message | null
  orderKey: number
  isPinned: boolean
  notificationStatus: number
  draft: string
  marks: number[]
}

export interface GroupSummary {
  groupID: string
  groupName: string
  groupNotice: string
  memberRole: number
}

export interface GroupMember {
  userID: string
  memberRole: number
}

export interface Friend {
  userID: string
  wording: string
}

export interface FriendApplication {
  applyUser: { userID: string }
  toUser: { userID: string }
  wording: string
  state: number
}

export interface CallUser {
  userID: string
  state: number
  extendedData?: string
}

export interface ReceiptInfo {
  conversationID: string
  conversationType: number
  messageID: string
  status: number
  readMemberCount: number
  unreadMemberCount: number
  isSelfOperated: boolean
}

/** ConversationType (§5). */
export const PEER = 0
export const ROOM = 1
export const GROUP = 2

/** CallUserState (§5). */
export const CALL_STATE_NAMES: Record<number, string> = {
  0: 'inviting',
  1: 'accepted',
  2: 'rejected',
  3: 'cancelled',
  5: 'received',
  6: 'timeout',
  7: 'quit',
  8: 'ended',
}
export const CALL_ACCEPTED = 1
export const CALL_REJECTED = 2

/** GroupMemberRole (§5). */
export const ROLE_NAMES: Record<number, string> = { 1: 'owner', 2: 'admin', 3: 'member' }

/** The text of a message body, whatever its type. */
export function messageText(message: Message): string {
  if (message.isRevoked) return 'message revoked'
  return typeof message.message === 'string' ? message.message : `${message.message.length} bytes`
}
