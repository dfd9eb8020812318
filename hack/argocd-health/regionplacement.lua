-- Argo CD health check for modelserve.io/RegionPlacement.
--   Degraded    condition ResidencyCompliant=False (replicas outside the allowed regions)
--   Healthy     conditions Ready=True and ResidencyCompliant=True
--   Progressing anything else (no status yet, stale observedGeneration, not Ready yet)
local hs = {}

local function condition(status, type_)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == type_ then
      return c
    end
  end
  return nil
end

-- "" counts as missing: the operator writes empty reasons/messages.
local function with_default(text, default)
  if text == nil or text == "" then
    return default
  end
  return text
end

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the modelserve operator to report placement"
  return hs
end

local residency = condition(status, "ResidencyCompliant")
if residency ~= nil and residency.status == "False" then
  hs.status = "Degraded"
  hs.message = with_default(residency.message, with_default(residency.reason, "Residency violated"))
  if status.violationsTotal ~= nil then
    hs.message = hs.message .. " (" .. tostring(status.violationsTotal) .. " violations)"
  end
  return hs
end

local generation = obj.metadata.generation
if status.observedGeneration ~= nil and generation ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local ready = condition(status, "Ready")
if ready ~= nil and ready.status == "True" and residency ~= nil and residency.status == "True" then
  hs.status = "Healthy"
  hs.message = with_default(ready.message, "Placement ready and residency compliant")
  return hs
end

hs.status = "Progressing"
if ready ~= nil and ready.status ~= "True" then
  hs.message = with_default(ready.message, with_default(ready.reason, "Waiting for Ready"))
else
  hs.message = "Waiting for conditions Ready and ResidencyCompliant"
end
return hs
