/** This account's online devices, live from selfDevicesChanged; any other one can be signed out. */

import type { Session } from '../session'
import { useStore } from '../store'

export function Devices(props: { session: Session }) {
  const { session } = props
  const state = useStore(session.state)
  return (
    <div class="devices">
      <h2>
        Online devices <span class="count" data-testid="device-count">{state.devices.length}</span>
      </h2>
      <ul data-testid="devices">
        {state.devices.map((d) => (
          <li data-testid="device" data-login-id={d.loginID} class={d.loginID === state.loginID ? 'this' : ''}>
            <span class="platform">{d.platform}</span> {d.deviceName || d.deviceID}
            {d.loginID === state.loginID ? (
              <em> this tab</em>
            ) : (
              <button class="quiet" data-testid="kick-device" onClick={() => void session.attempt(() => session.kickDevice(d.loginID))}>
                sign out
              </button>
            )}
          </li>
        ))}
      </ul>
    </div>
  )
}
