-- Websockets (HMR) through the apps gateway, frame by frame.
--
-- nginx's own websocket proxying pumps bytes and cannot see messages; MGX keeps a cap on the
-- size of one websocket message (16 MiB, either way): a bigger one closes that socket (1009).
-- This relay reads each frame's header, counts the message it belongs to, and streams the
-- payload through in pieces, so no message is ever held whole, however big it claims to be.
-- Frames pass unchanged (masked from the browser, unmasked from the app); extensions are not
-- offered to the app, so the sizes counted are the sizes delivered.
local M = {}

local band = bit.band
local byte, char, lower, concat, min = string.byte, string.char, string.lower, table.concat, math.min

local CHUNK = 65536
local IDLE = 3600 -- seconds without a byte either way before a websocket is closed
local HANDSHAKE_MAX = 65536

-- Client headers the app does not get: hop-by-hop, the handshake's own, nginx's and ours.
local SKIP = {
    connection = true, ["keep-alive"] = true, ["proxy-authenticate"] = true, ["proxy-authorization"] = true,
    te = true, trailer = true, ["transfer-encoding"] = true, upgrade = true, host = true,
    ["content-length"] = true, ["sec-websocket-extensions"] = true, forwarded = true,
}

local function read_exact(sock, size, state)
    local parts, got = nil, 0
    while true do
        local data, err, partial = sock:receive(size - got)
        if data then
            state.last = ngx.now()
            if not parts then
                return data
            end
            parts[#parts + 1] = data
            return concat(parts)
        end
        if err ~= "timeout" then
            return nil, err
        end
        if partial and #partial > 0 then
            state.last = ngx.now()
            parts = parts or {}
            parts[#parts + 1] = partial
            got = got + #partial
        end
        if ngx.now() - state.last > IDLE then
            return nil, "idle"
        end
    end
end

-- Relays frames from src to dst until either side closes; "too big" when a message passes max.
local function pump(src, dst, max, state)
    local message = 0
    while true do
        local head, err = read_exact(src, 2, state)
        if not head then
            return err
        end
        local b1, b2 = byte(head, 1, 2)
        local opcode, size = band(b1, 0x0f), band(b2, 0x7f)
        local ext = ""
        if size == 126 then
            ext, err = read_exact(src, 2, state)
            if not ext then
                return err
            end
            size = byte(ext, 1) * 256 + byte(ext, 2)
        elseif size == 127 then
            ext, err = read_exact(src, 8, state)
            if not ext then
                return err
            end
            size = 0
            for i = 1, 8 do
                size = size * 256 + byte(ext, i)
            end
        end
        local key = ""
        if band(b2, 0x80) ~= 0 then
            key, err = read_exact(src, 4, state)
            if not key then
                return err
            end
        end
        if opcode >= 8 then
            if size > 125 then
                return "protocol error"
            end
        elseif opcode == 0 then
            message = message + size
        else
            message = size
        end
        if opcode < 8 and message > max then
            return "too big"
        end
        local header = head .. ext .. key
        if size <= CHUNK then
            local payload = ""
            if size > 0 then
                payload, err = read_exact(src, size, state)
                if not payload then
                    return err
                end
            end
            local ok, serr = dst:send(header .. payload)
            if not ok then
                return serr
            end
        else
            local ok, serr = dst:send(header)
            if not ok then
                return serr
            end
            local left = size
            while left > 0 do
                local piece, rerr = read_exact(src, min(left, CHUNK), state)
                if not piece then
                    return rerr
                end
                ok, serr = dst:send(piece)
                if not ok then
                    return serr
                end
                left = left - #piece
            end
        end
    end
end

local function handshake(up, route)
    local lines = {"GET " .. ngx.var.request_uri .. " HTTP/1.1"}
    for name, value in pairs(ngx.req.get_headers(0, true)) do
        local low = lower(name)
        if not SKIP[low] and low:sub(1, 12) ~= "x-forwarded-" then
            if type(value) == "table" then
                for _, each in ipairs(value) do
                    lines[#lines + 1] = name .. ": " .. each
                end
            else
                lines[#lines + 1] = name .. ": " .. value
            end
        end
    end
    local host = ngx.var.http_host
    if host and host ~= "" then
        lines[#lines + 1] = "Host: " .. host
        lines[#lines + 1] = "X-Forwarded-Host: " .. host
    end
    lines[#lines + 1] = "X-Forwarded-For: " .. ngx.var.remote_addr
    lines[#lines + 1] = "X-Forwarded-Proto: " .. ngx.var.mgx_proto
    lines[#lines + 1] = "Upgrade: websocket"
    lines[#lines + 1] = "Connection: Upgrade"
    local ok, err = up:send(concat(lines, "\r\n") .. "\r\n\r\n")
    if not ok then
        return nil, err
    end
    local reader = up:receiveuntil("\r\n\r\n")
    local parts, got = {}, 0
    while true do
        local data, rerr = reader(4096)
        if not data then
            if rerr then
                return nil, rerr
            end
            break
        end
        got = got + #data
        if got > HANDSHAKE_MAX then
            return nil, "answer headers too large"
        end
        parts[#parts + 1] = data
    end
    local answer = concat(parts)
    local status = tonumber(answer:match("^HTTP/1%.[01] (%d%d%d)"))
    if status ~= 101 then
        return nil, "answered " .. tostring(status)
    end
    local headers = {}
    for name, value in answer:gmatch("\r\n([^:\r\n]+):[ \t]*([^\r\n]*)") do
        headers[lower(name)] = value
    end
    return headers
end

function M.relay(route, max)
    local up = ngx.socket.tcp()
    up:settimeouts(5000, 60000, 60000)
    local ok, err = up:connect(route[1], route[2])
    if not ok then
        return ngx.exit(502)
    end
    local answer
    answer, err = handshake(up, route)
    if not answer or not answer["sec-websocket-accept"] then
        up:close()
        return ngx.exit(502)
    end
    ngx.status = 101
    ngx.header["Upgrade"] = "websocket"
    ngx.header["Sec-WebSocket-Accept"] = answer["sec-websocket-accept"]
    ngx.header["Sec-WebSocket-Protocol"] = answer["sec-websocket-protocol"]
    ngx.header["Content-Type"] = nil
    ok, err = ngx.send_headers()
    if ok then
        ok, err = ngx.flush(true)
    end
    local down
    if ok then
        down, err = ngx.req.socket(true)
    end
    if not down then
        up:close()
        return ngx.exit(ngx.ERROR)
    end
    down:settimeouts(5000, 60000, 60000)
    local state = {last = ngx.now()}
    local to_app = ngx.thread.spawn(pump, down, up, max, state)
    local to_browser = ngx.thread.spawn(pump, up, down, max, state)
    local _, why = ngx.thread.wait(to_app, to_browser)
    if why == "too big" then
        -- Before the other pump goes: killing a thread that waits on the browser's socket
        -- closes that socket. (While that pump writes, the browser just sees the socket end.)
        down:send(char(0x88, 2, 0x03, 0xf1)) -- close 1009: message too big
    end
    ngx.thread.kill(to_app)
    ngx.thread.kill(to_browser)
    up:close()
    return ngx.exit(ngx.OK)
end

return M
