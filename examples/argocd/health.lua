-- Argo CD health of a Storefleet Store or Vendor, from the status the operator writes.
-- Argo CD runs this with `obj` set to the resource and reads back {status, message}.
local hs = {status = "Progressing", message = "Waiting for the Storefleet operator"}

local function ready_condition(status)
  if status.conditions == nil then
    return nil
  end
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Ready" then
      return condition
    end
  end
  return nil
end

if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.message = "Being deleted: the operator's finalizer is cleaning up"
  return hs
end

local status = obj.status
if status == nil or status.phase == nil then
  return hs
end

-- A status written for an older spec says nothing about the current one.
if status.observedGeneration == nil or status.observedGeneration < obj.metadata.generation then
  hs.message = "Waiting for the operator to observe generation " .. tostring(obj.metadata.generation)
  return hs
end

local ready = ready_condition(status)
local detail = status.phaseReason or status.phase
if ready ~= nil and ready.message ~= nil and ready.message ~= "" then
  detail = ready.message
end

if status.phase == "Suspended" then
  hs.status = "Suspended"
elseif status.phase == "Ready" and ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
elseif status.phase == "Degraded" or status.phase == "Failed" then
  hs.status = "Degraded"
else
  hs.status = "Progressing"
end
hs.message = status.phase .. ": " .. detail
return hs
