-- The apps gateway inside nginx: what MGX's own gateway process used to do in Python
-- (deployments/gateway/proxy.py before issue 26), on nginx's data path.
--
-- nginx forwards; this module only decides, per request: which container (the route table in
-- Redis, held per worker and read again when MGX publishes a change), whether a dev preview
-- may be opened (MGX decides, deployments/gateway/authd.py; the decision is cached here and
-- dropped on every logout or revocation before MGX answers it), and which of MGX's
-- credentials to take out of the request and the response. nginx.py renders
-- the configuration that calls it and writes the JSON it reads at start.
local cjson = require "cjson.safe"
local balancer = require "ngx.balancer"
local b64 = require "ngx.base64"
local redis = require "mgx_redis"
local wsrelay = require "mgx_ws"

local M = {}

local ngx, ngx_var, ngx_req, ngx_header = ngx, ngx.var, ngx.req, ngx.header
local find, sub, lower, gsub, byte = string.find, string.sub, string.lower, string.gsub, string.byte
local concat, tonumber, tostring, type, pairs, ipairs = table.concat, tonumber, tostring, type, pairs, ipairs

local CFG  -- gateway.json, read once by the master (init_by_lua) and inherited by the workers

-- The gateway's own warnings go straight to its output (the log ./mgx logs shows): nginx's
-- error log would append the request line, and a query string may carry a secret (an OAuth
-- code, a token), so nginx itself logs only what is critical (nginx.conf). At most one line
-- per message and worker every ten seconds.
local said = {}
local function warn(...)
    local text = gsub(concat({...}), "%c", "?") -- one line each, whatever a route holds
    local now = ngx.now()
    if now - (said[text] or 0) < 10 then
        return
    end
    said[text] = now
    io.stderr:write(os.date("!%Y-%m-%d %H:%M:%S"), " apps gateway (worker ", tostring(ngx.worker.pid()), "): ",
        text, "\n")
    io.stderr:flush()
end

-- Per worker: the route table and what is known about it.
local routes, routes_at, retry_at, listening, refreshing = {}, 0, 0, false, false
local ROUTE_TTL = 1.0 -- only while the change subscription is down (Redis away or starting)
local ROUTE_TTL_LISTENING = 60.0 -- subscribed: changes are pushed; this only bounds a lost message
local seen = {}

function M.init(path)
    local file = assert(io.open(path, "rb"))
    local raw = file:read("*a")
    file:close()
    CFG = assert(cjson.decode(raw), "gateway.json is not JSON")
    CFG.cookie_set = {}
    for _, name in ipairs(CFG.cookies) do
        CFG.cookie_set[name] = true
    end
    CFG.redis.pool = "mgx-redis:" .. CFG.redis.host .. ":" .. tostring(CFG.redis.port) .. ":" .. tostring(CFG.redis.db)
    CFG.frame_policy = "frame-ancestors " .. CFG.mgx_origin
end

-- Per worker, answers worked out from a request header as sent, so the next request with the
-- same header costs one table lookup instead of the parsing (Lua's patterns are not compiled
-- by LuaJIT: each costs a microsecond or so, and a dev preview's every request made a dozen).
-- At most MEMO_MAX entries of headers up to MEMO_HEADER_MAX bytes; full, a table starts over.
local MEMO_MAX, MEMO_HEADER_MAX = 1024, 4096
local function memo_new()
    return {size = 0, entries = {}}
end
local function memo_put(memo, key, value)
    if #key > MEMO_HEADER_MAX then
        return
    end
    if memo.size >= MEMO_MAX then
        memo.size, memo.entries = 0, {}
    end
    if memo.entries[key] == nil then
        memo.size = memo.size + 1
    end
    memo.entries[key] = value
end

-- ------------------------------------------------------------ routes

local function parse_upstream(value)
    -- MGX writes "127.0.0.1:<published port>"; anything but an address literal and a port is
    -- refused, so a route never makes nginx look a name up.
    if type(value) ~= "string" then
        return nil
    end
    local host, port = value:match("^(%d+%.%d+%.%d+%.%d+):(%d+)$")
    if not host then
        host, port = value:match("^%[([%x:]+)%]:(%d+)$")
    end
    port = tonumber(port)
    if not host or not port or port < 1 or port > 65535 then
        return nil
    end
    return {host, port, value}
end

local function read_routes()
    local raw, err = redis.call(CFG.redis, "HGETALL", CFG.keys.routes)
    local now = ngx.now()
    if type(raw) ~= "table" then
        -- Redis away: keep serving the routes we knew, and ask again in a second.
        retry_at = now + 1
        warn("could not read the routes from Redis: ", tostring(err))
        return
    end
    local fresh = {}
    for i = 1, #raw - 1, 2 do
        local id, value = raw[i], cjson.decode(raw[i + 1])
        local route = type(value) == "table" and parse_upstream(value.upstream)
        if type(id) == "string" and (id:match("^[a-z0-9-]+%-dev$") or id:match("^[a-z0-9-]+%-prod$")) then
            if route then
                fresh[id] = route
            else
                warn("ignored route ", id, ": its upstream is not an address and port")
            end
        end
    end
    routes, routes_at, retry_at = fresh, now, 0
end

-- One read at a time per worker. A change heard while a read is on its way may have missed it:
-- then the table is read once more. A request that needs the answer waits for the read.
local again = false
local function refresh_routes(wait)
    if refreshing then
        again = true
        local deadline = ngx.now() + 2
        while wait and refreshing and ngx.now() < deadline do
            ngx.sleep(0.002)
        end
        return
    end
    refreshing = true
    repeat
        again = false
        local ok, err = pcall(read_routes)
        if not ok then
            warn("reading the routes failed: ", tostring(err))
        end
    until not again
    refreshing = false
end

-- `fresh`: the cached answer just failed us (no route): reread, but at most ten times a second
-- so a flood of bad URLs cannot hammer Redis.
local function route_for(id, fresh)
    local now = ngx.now()
    local ttl = fresh and 0.1 or (listening and ROUTE_TTL_LISTENING or ROUTE_TTL)
    if now - routes_at > ttl and now >= retry_at then
        refresh_routes(true)
    end
    return routes[id]
end

-- A logout or a revocation (deployments.gateway.builtin.auth_invalidate): every cached
-- dev-preview decision goes (coarse, and cheap: MGX is asked again once per open preview),
-- then this worker says so, and the logout's answer leaves MGX once every worker has.
local function forget_decisions()
    -- A new generation: every decision cached under an older one is void, and so is one
    -- asked for before this moment and answered after it.
    ngx.shared.mgx_gen:incr("gen", 1, 0)
end

local function auth_changed(message)
    forget_decisions()
    local nonce = message:match(" (%x+)$")
    if nonce then
        local key = CFG.keys.auth_ack .. ":" .. nonce
        redis.call(CFG.redis, "RPUSH", key, "1")
        redis.call(CFG.redis, "EXPIRE", key, 60)
    end
end

-- One subscription per worker: the route table is read again whenever MGX changes a route, so a
-- restarted container's new port is used by the very next request; cached decisions go on a
-- logout or a revocation. While it is down, no decision is cached or used, and the table is
-- read at most once a second by the requests that need it.
local function subscribe(premature)
    if premature or ngx.worker.exiting() then
        return
    end
    local sock, err = redis.connect(CFG.redis, false)
    if sock then
        sock:settimeouts(2000, 2000, 10000)
        local ok
        ok, err = redis.send(sock, "SUBSCRIBE", CFG.keys.changed, CFG.keys.auth)
        local pinged = false
        while ok and not ngx.worker.exiting() do
            local reply, rerr = redis.read(sock)
            if type(reply) == "table" then
                pinged = false
                if reply[1] == "subscribe" and reply[3] == 2 then
                    forget_decisions() -- what was cached before a gap in listening
                    listening, routes_at = true, 0
                    refresh_routes()
                elseif reply[1] == "message" and reply[2] == CFG.keys.auth then
                    auth_changed(reply[3])
                elseif reply[1] == "message" then
                    routes_at = 0
                    refresh_routes()
                end
            elseif rerr == "timeout" and not pinged then
                -- A quiet channel is normal; a ping tells a dead link from it.
                pinged = true
                ok, err = redis.send(sock, "PING")
            else
                err = rerr or "no answer to a ping"
                break
            end
        end
        sock:close()
    end
    listening, routes_at = false, 0
    if not ngx.worker.exiting() then
        warn("route changes and logouts not heard (", tostring(err), "); subscribing again")
        ngx.timer.at(1, subscribe)
    end
end

function M.init_worker()
    ngx.timer.at(0, subscribe)
end

-- ------------------------------------------------------------ pages

local function page(status, name, slug, extra)
    local body = CFG.pages[name]
    if slug then
        body = gsub(body, "__SLUG__", slug) -- slugs are [a-z0-9-]: nothing to escape
    end
    if extra then
        for key, value in pairs(extra) do
            ngx_header[key] = value
        end
    end
    ngx.status = status
    ngx_header["Content-Type"] = "text/html; charset=utf-8"
    ngx_header["Content-Length"] = #body
    ngx_header["Cache-Control"] = "no-store"
    ngx.print(body)
    return ngx.exit(ngx.HTTP_OK) -- sent: this ends the request (error_page does not apply)
end

local function html_escape(text)
    return (gsub(text, "[&<>\"']", {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#x27;"}))
end

local function not_running(slug, stage)
    return page(502, stage == "dev" and "dev_not_running" or "prod_not_running", slug)
end

local function login(slug)
    local back = CFG.apps_url .. ngx_var.request_uri
    local target = CFG.login_url .. "?next=" .. ngx.escape_uri(back)
    local body = gsub(CFG.pages.login, "__TARGET__", function() return html_escape(target) end)
    ngx.status = 302
    ngx_header["Location"] = target
    ngx_header["Content-Type"] = "text/html; charset=utf-8"
    ngx_header["Content-Length"] = #body
    ngx_header["Cache-Control"] = "no-store"
    ngx.print(body)
    return ngx.exit(ngx.HTTP_OK)
end

function M.not_found()
    return page(404, "not_found")
end

-- An error nginx met reaching the container (refused, reset, timed out): the app's own pages
-- for a stopped app. The next request rereads the route (the container may have moved).
function M.unavailable()
    local slug, stage = (ngx_var.uri or ""):match("^/apps/([a-z0-9-]+)/(%a+)")
    if not slug or (stage ~= "dev" and stage ~= "prod") then
        return page(502, "not_found")
    end
    route_for(slug .. "-" .. stage, true)
    return not_running(slug, stage)
end

-- ------------------------------------------------------------ credentials

-- The value of the cookie `name` in a Cookie header (the last one wins, as in Django), or "".
local function cookie_value(header, name)
    local found = ""
    for part in header:gmatch("[^;]+") do
        local key, value = part:match("^%s*([^=]-)%s*=%s*(.-)%s*$")
        if key == name then
            found = value
        end
    end
    return found
end

-- The Cookie header without MGX's cookies; the app's own cookies are left exactly as sent.
local stripped = memo_new() -- Cookie header as sent -> without MGX's cookies
local function strip_cookies(header)
    local hit = false
    for _, name in ipairs(CFG.cookies) do
        if find(header, name, 1, true) then
            hit = true
            break
        end
    end
    if not hit then
        return header -- the common case costs one substring search per name
    end
    local known = stripped.entries[header]
    if known then
        return known
    end
    local kept = {}
    for part in (header .. ";"):gmatch("([^;]*);") do
        local key = part:match("^%s*([^=]-)%s*=") or part:match("^%s*(.-)%s*$")
        if not CFG.cookie_set[key] then
            kept[#kept + 1] = part
        end
    end
    local result = concat(kept, ";"):match("^%s*(.-)%s*$")
    memo_put(stripped, header, result)
    return result
end

-- A bearer JWT issued to MGX's own client: whoever holds it acts as the user on MGX. Read
-- without verifying the signature: it only decides to drop the header, never to trust it.
local function is_mgx_bearer(value)
    local scheme, token = value:match("^(%S+) (.*)$")
    if not scheme or lower(scheme) ~= "bearer" then
        return false
    end
    token = token:match("^%s*(.-)%s*$")
    local head, payload, signature = token:match("^([^.]*)%.([^.]*)%.([^.]*)$")
    if not payload then
        return false
    end
    local claims = cjson.decode(b64.decode_base64url(payload) or "")
    if type(claims) ~= "table" then
        return false
    end
    local mine, aud = CFG.client_id, claims.aud
    if claims.client_id == mine or aud == mine then
        return true
    end
    if type(aud) == "table" then
        for _, value in ipairs(aud) do
            if value == mine then
                return true
            end
        end
    end
    return false
end

-- What reaches the app: never MGX's session or CSRF cookie nor a bearer of MGX's own client,
-- and no X-Forwarded-* but the gateway's own (nginx.conf sets those).
local function strip_request()
    local cookie = ngx_var.http_cookie
    if cookie then
        local kept = strip_cookies(cookie)
        if kept ~= cookie then
            ngx_req.set_header("Cookie", kept ~= "" and kept or nil)
        end
    end
    local authorization = ngx_var.http_authorization
    if authorization and is_mgx_bearer(authorization) then
        ngx_req.clear_header("Authorization")
    end
    -- The common case (no such header) costs one scan of the raw header block.
    if find(lower(ngx_req.raw_header(true)), "forwarded", 1, true) then
        for name in pairs(ngx_req.get_headers(0)) do -- names in lower case
            if find(name, "x-forwarded-", 1, true) == 1 or name == "forwarded" then
                ngx_req.clear_header(name)
            end
        end
    end
end

-- ------------------------------------------------------------ dev previews

-- MGX's decision (authd.py over its Unix socket): "ok", "login" or "denied", and the access
-- token behind the session; nil when MGX does not answer.
-- One question to MGX's access check (deployments/gateway/authd.py), one line back; nil when it
-- does not answer.
local function ask_authd(question)
    local sock = ngx.socket.tcp()
    sock:settimeouts(1000, 5000, 15000)
    local ok, err = sock:connect(CFG.auth_socket, {pool = "mgx-authd"})
    if not ok then
        warn("MGX's access check does not answer: ", tostring(err))
        return nil
    end
    ok, err = sock:send(question .. "\n")
    local line
    if ok then
        line, err = sock:receive("*l")
    end
    if not line then
        sock:close()
        warn("MGX's access check failed: ", tostring(err))
        return nil
    end
    sock:setkeepalive(30000, 16)
    return line
end

local function ask_mgx(slug, key)
    local line = ask_authd("AUTH " .. slug .. " " .. (key ~= "" and key or "-"))
    if not line then
        return nil
    end
    local verdict, token = line:match("^(%a+) (%S+)$")
    return verdict, token
end

-- A production URL with no route: an app nobody made is not found (404), one not deployed yet
-- is "not deployed" (502). The answer is kept for auth_ttl seconds, so a flood of made-up names
-- asks MGX once per name and interval; MGX not answering keeps the 502.
local function app_unknown(slug)
    local cache = ngx.shared.mgx_auth
    local entry = "app:" .. slug
    local known = cache:get(entry)
    if known == nil then
        local line = ask_authd("APP " .. slug)
        if line ~= "yes" and line ~= "no" then
            return false
        end
        known = line
        if CFG.auth_ttl > 0 then
            cache:set(entry, known, CFG.auth_ttl)
        end
    end
    return known == "no"
end

-- The owner's (or an MGX admin's) only, recognised by MGX's session cookie. A decision is
-- cached for auth_ttl seconds under the generation it was asked in, and only while this worker
-- hears logouts and revocations (subscribe): each one starts a new generation before MGX
-- answers it, so the very next request asks MGX again.
-- In front of that shared cache, each worker keeps its last decisions by app and Cookie header
-- as sent ({verdict, generation, expiry}), under the same rules: only while listening, void
-- with a new generation, never past the shared entry's own expiry.
local decided = memo_new() -- "<slug> <Cookie header>" -> {verdict, generation, expires at}

local function authorize(slug)
    local header = ngx_var.http_cookie or ""
    local generation = ngx.shared.mgx_gen:get("gen") or 0
    local asked = slug .. " " .. header -- a slug holds no space
    local known = decided.entries[asked]
    if known and listening and known[2] == generation and known[3] > ngx.now() then
        return known[1]
    end
    local key = cookie_value(header, CFG.session_cookie)
    if #key > 256 or not key:match("^[%w%-_.:]*$") then
        key = "" -- not a session key MGX makes: nobody
    end
    local cache = ngx.shared.mgx_auth
    local entry = ngx.md5(key) .. ":" .. slug
    local gen = tostring(generation)
    local verdict, ttl
    if listening then
        local cached = cache:get(entry)
        if cached then
            local at
            verdict, at = cached:match("^(%a+) (%d+)$")
            if at ~= gen then
                verdict = nil
            else
                ttl = cache:ttl(entry)
            end
        end
    end
    if not verdict then
        verdict = ask_mgx(slug, key)
        if verdict ~= "ok" and verdict ~= "login" and verdict ~= "denied" then
            return nil
        end
        if listening then
            cache:set(entry, verdict .. " " .. gen, CFG.auth_ttl)
            ttl = CFG.auth_ttl
        end
    end
    if listening and ttl and ttl > 0 and CFG.auth_ttl > 0 then
        memo_put(decided, asked, {verdict, generation, ngx.now() + ttl})
    end
    return verdict
end

-- Another site must not open a dev websocket with the owner's cookie (CSWSH).
local function same_origin()
    local origin = ngx_var.http_origin
    if not origin or origin == "" then
        return true -- not a browser
    end
    local host = origin:match("^[^:]+://([^/]*)") or origin
    return host == ngx_var.http_host
end

local function write_seen(premature, slug, now)
    if premature then
        return
    end
    redis.call(CFG.redis, "SET", CFG.keys.seen .. slug, now, "EX", 7 * 24 * 3600)
end

-- The idle reaper's "last seen" (deployments.services.dev_reap_idle), at most every
-- seen_every seconds per app and worker.
local function mark_seen(slug)
    local now = ngx.now()
    if now - (seen[slug] or 0) < CFG.seen_every then
        return
    end
    seen[slug] = now
    ngx.timer.at(0, write_seen, slug, math.floor(ngx.time()))
end

-- ------------------------------------------------------------ phases

local function is_websocket()
    local upgrade = ngx_var.http_upgrade
    return upgrade ~= nil and lower(upgrade) == "websocket"
end

-- access_by_lua of /apps/<slug>/dev/... and /apps/<slug>/prod/... (nginx.conf has one location
-- each, so the stage costs nothing to know).
local function access(slug, stage, dev)
    local upgrade = ngx_var.http_upgrade
    local websocket = upgrade ~= nil and lower(upgrade) == "websocket"
    if dev then
        local verdict = authorize(slug)
        if websocket and (verdict ~= "ok" or not same_origin()) then
            return ngx.exit(403)
        end
        if verdict == "login" then
            return login(slug)
        elseif verdict == "denied" then
            return page(404, "denied")
        elseif verdict ~= "ok" then
            return page(503, "unavailable")
        end
    end
    local id = slug .. stage
    local route = route_for(id) or route_for(id, true)
    if not route then
        if websocket then
            return ngx.exit(404)
        end
        if not dev and app_unknown(slug) then
            return page(404, "not_found")
        end
        return not_running(slug, dev and "dev" or "prod")
    end
    if dev then
        mark_seen(slug)
    end
    strip_request()
    if websocket then
        ngx_var.mgx_upstream = route[3]
        return ngx.exec("@mgx_websocket")
    end
    ngx.ctx.mgx_route = route
end

function M.prod()
    return access(ngx_var.mgx_slug, "-prod", false)
end

function M.dev()
    return access(ngx_var.mgx_slug, "-dev", true)
end

-- balancer_by_lua: the container the access phase picked (keepalive pools are per address).
function M.balance()
    local route = ngx.ctx.mgx_route
    local ok, err = balancer.set_current_peer(route[1], route[2])
    if not ok then
        warn("cannot use upstream ", route[3], ": ", tostring(err))
        return ngx.exit(502)
    end
end

local function drop_frame_ancestors(value)
    local kept = {}
    for directive in (value .. ";"):gmatch("([^;]*);") do
        local name = lower(directive:match("^%s*(%S*)") or "")
        if name ~= "frame-ancestors" and directive:match("%S") then
            kept[#kept + 1] = directive:match("^%s*(.-)%s*$")
        end
    end
    return concat(kept, "; ")
end

-- header_filter_by_lua: no cookie under MGX's names from an app (it must not replace MGX's
-- session or CSRF cookie); dev responses framed by MGX's pages only. (The gateway's own pages
-- pass here too: they set no cookie, and a dev page may well be framed by MGX alone.)
local function own_cookies_only()
    local cookies = ngx_header["Set-Cookie"]
    if not cookies then
        return
    end
    if type(cookies) ~= "table" then
        cookies = {cookies}
    end
    local kept = {}
    for _, value in ipairs(cookies) do
        local name = value:match("^%s*([^=]-)%s*=") or ""
        if not CFG.cookie_set[name] then
            kept[#kept + 1] = value
        end
    end
    if #kept ~= #cookies then
        ngx_header["Set-Cookie"] = #kept > 0 and kept or nil
    end
end

M.prod_headers = own_cookies_only

function M.dev_headers()
    own_cookies_only()
    -- (X-Frame-Options never gets here: nginx.conf hides it from dev responses.)
    local policies = ngx_header["Content-Security-Policy"]
    if not policies then
        ngx_header["Content-Security-Policy"] = CFG.frame_policy -- the common case
        return
    end
    local out = {}
    if type(policies) ~= "table" then
        policies = {policies}
    end
    for _, value in ipairs(policies) do
        local rest = drop_frame_ancestors(value)
        if rest ~= "" then
            out[#out + 1] = rest
        end
    end
    out[#out + 1] = CFG.frame_policy
    ngx_header["Content-Security-Policy"] = out
end

-- content_by_lua of @mgx_websocket: the access phase has checked and stripped the request.
function M.websocket()
    local route = parse_upstream(ngx_var.mgx_upstream)
    if not route then
        return ngx.exit(502)
    end
    return wsrelay.relay(route, CFG.ws_max_message)
end

return M
