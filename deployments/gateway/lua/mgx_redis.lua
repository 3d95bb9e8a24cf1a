-- The few Redis commands the apps gateway needs (RESP2 over an nginx cosocket): GET, SET,
-- HGETALL and SUBSCRIBE. Debian packages no Redis client for nginx's Lua module, and this is
-- all of the protocol MGX uses. Never logs a password or a reply.
local M = {}

local concat, tostring, tonumber, sub = table.concat, tostring, tonumber, string.sub

local function encode(args)
    local out = {"*", #args, "\r\n"}
    for _, arg in ipairs(args) do
        arg = tostring(arg)
        out[#out + 1] = "$" .. #arg .. "\r\n" .. arg .. "\r\n"
    end
    return concat(out)
end

-- One reply: a string, a number, an array, ngx.null, or nil plus an error. The third value
-- says whether the error came from Redis (the connection is still good) or the link.
local function read(sock)
    local line, err = sock:receive("*l")
    if not line then
        return nil, err, false
    end
    local kind, rest = sub(line, 1, 1), sub(line, 2)
    if kind == "+" then
        return rest
    elseif kind == "-" then
        return nil, rest, true
    elseif kind == ":" then
        return tonumber(rest)
    elseif kind == "$" then
        local size = tonumber(rest)
        if not size or size < 0 then
            return ngx.null
        end
        local data, derr = sock:receive(size + 2)
        if not data then
            return nil, derr, false
        end
        return sub(data, 1, size)
    elseif kind == "*" then
        local count = tonumber(rest)
        if not count or count < 0 then
            return ngx.null
        end
        local items = {}
        for i = 1, count do
            local item, ierr, from_redis = read(sock)
            if item == nil then
                return nil, ierr, from_redis
            end
            items[i] = item
        end
        return items
    end
    return nil, "unexpected reply from Redis", false
end

M.read = read

function M.send(sock, ...)
    return sock:send(encode({...}))
end

local function command(sock, ...)
    local ok, err = sock:send(encode({...}))
    if not ok then
        return nil, err, false
    end
    return read(sock)
end

-- A connection to `cfg` (host, port, db, username, password), logged in and on its database.
-- `pool`: take it from (and give it back to) nginx's connection pool.
function M.connect(cfg, pool)
    local sock = ngx.socket.tcp()
    sock:settimeouts(cfg.connect_timeout or 1000, cfg.timeout or 1000, cfg.timeout or 1000)
    local ok, err = sock:connect(cfg.host, cfg.port, pool and {pool = cfg.pool} or nil)
    if not ok then
        return nil, err
    end
    if pool and sock:getreusedtimes() > 0 then
        return sock
    end
    if cfg.password and cfg.password ~= "" then
        local res, aerr
        if cfg.username and cfg.username ~= "" then
            res, aerr = command(sock, "AUTH", cfg.username, cfg.password)
        else
            res, aerr = command(sock, "AUTH", cfg.password)
        end
        if not res then
            sock:close()
            return nil, "Redis refused the login: " .. tostring(aerr)
        end
    end
    if cfg.db and cfg.db ~= 0 then
        local res, serr = command(sock, "SELECT", cfg.db)
        if not res then
            sock:close()
            return nil, "Redis refused SELECT: " .. tostring(serr)
        end
    end
    return sock
end

-- One command on a pooled connection.
function M.call(cfg, ...)
    local sock, err = M.connect(cfg, true)
    if not sock then
        return nil, err
    end
    local res, cerr, from_redis = command(sock, ...)
    if res == nil and not from_redis then
        sock:close()
        return nil, cerr
    end
    sock:setkeepalive(30000, 32)
    return res, cerr
end

return M
