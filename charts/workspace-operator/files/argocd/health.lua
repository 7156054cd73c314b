-- Argo CD health for every workspaces.dev kind (Organization, Workspace,
-- WorkspaceRole, WorkspaceMember): they share one status shape.
--   being deleted                         -> Progressing, with what blocks it
--   no status, or observedGeneration old  -> Progressing
--   Stalled=True (spec error, conflict)   -> Degraded, with the reason
--   Ready=True                            -> Healthy
--   otherwise                             -> Progressing, with the Ready reason
local hs = { status = "Progressing", message = "Waiting for workspace-operator" }
local conditions = {}
if obj.status ~= nil and obj.status.conditions ~= nil then
  conditions = obj.status.conditions
end

local function find(type_)
  for _, c in ipairs(conditions) do
    if c.type == type_ then
      return c
    end
  end
  return nil
end

if obj.metadata.deletionTimestamp ~= nil then
  hs.message = "Being deleted"
  local blocked = find("DeletionBlocked")
  if blocked ~= nil and blocked.status == "True" then
    hs.message = "Deletion blocked: " .. blocked.message
  end
  return hs
end

if obj.status == nil or obj.status.observedGeneration == nil
    or obj.status.observedGeneration < obj.metadata.generation then
  return hs
end

local stalled = find("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.reason .. ": " .. stalled.message
  return hs
end

local ready = find("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message
  return hs
end
if ready ~= nil then
  hs.message = ready.reason .. ": " .. ready.message
end
return hs
