-- Pneumoscope: Orthanc routing script. Forwards the chest X-rays of each study, once the study
-- is stable (no new instance for Orthanc's "StableAge" seconds), to the Pneumoscope node.
--
-- Install: add this file to "LuaScripts" in orthanc.json, and the node to "DicomModalities"
-- under the name below, e.g.  "DicomModalities": { "pneumoscope": [ "PNEUMOSCOPE", "127.0.0.1", 11112 ] }
--
-- Rule (an instance is forwarded when all hold):
--   1. its series' Modality is CR or DX (a Secondary Capture that says CR or DX counts too);
--   2. its BodyPartExamined is CHEST or THORAX (any case, also within a longer value such as
--      "CHEST_PA"), or it has no BodyPartExamined and its study description, series
--      description or protocol name mentions CHEST, THORAX or LUNG.
-- Pneumoscope's own results (Manufacturer "Pneumoscope") are never sent back to it.
-- All forwarded instances of a study go in one C-STORE job (one association).
--
-- Each instance is forwarded once. The node's results join the same study, which makes the study
-- stable again a little later; without this memory every result would send the study's X-rays to
-- the node once more (and, with "OverwriteInstances": true, round and round for ever). The memory
-- lasts while Orthanc runs: after a restart, a study that gets new instances forwards its chest
-- X-rays once more, and the node scores them again (it answers a resent instance, by design).

PNEUMOSCOPE_MODALITY = PNEUMOSCOPE_MODALITY or 'pneumoscope'
PNEUMOSCOPE_FORWARDED = PNEUMOSCOPE_FORWARDED or {}  -- Orthanc instance ID -> true, once forwarded

local function mentionsChest(value)
  if value == nil then return false end
  local v = string.upper(value)
  return string.find(v, 'CHEST', 1, true) ~= nil or string.find(v, 'THORAX', 1, true) ~= nil
      or string.find(v, 'LUNG', 1, true) ~= nil
end

function IsPneumoscopeChest(tags)
  local modality = string.upper(tags['Modality'] or '')
  if modality ~= 'CR' and modality ~= 'DX' then return false end
  if string.upper(tags['Manufacturer'] or '') == 'PNEUMOSCOPE' then return false end
  local body = tags['BodyPartExamined']
  if body ~= nil and body ~= '' then
    local b = string.upper(body)
    return string.find(b, 'CHEST', 1, true) ~= nil or string.find(b, 'THORAX', 1, true) ~= nil
  end
  return mentionsChest(tags['StudyDescription']) or mentionsChest(tags['SeriesDescription'])
      or mentionsChest(tags['ProtocolName'])
end

function OnStableStudy(studyId, tags, metadata)
  local instances = ParseJson(RestApiGet('/studies/' .. studyId .. '/instances'))
  local chosen = {}
  for _, instance in pairs(instances) do
    local id = instance['ID']
    if not PNEUMOSCOPE_FORWARDED[id] then
      local t = ParseJson(RestApiGet('/instances/' .. id .. '/simplified-tags'))
      if IsPneumoscopeChest(t) then
        table.insert(chosen, id)
      end
    end
  end
  if #chosen > 0 then
    print('Pneumoscope: forwarding ' .. #chosen .. ' of ' .. #instances .. ' instance(s) of study ' .. studyId)
    RestApiPost('/modalities/' .. PNEUMOSCOPE_MODALITY .. '/store', DumpJson(chosen, true))
    for _, id in pairs(chosen) do
      PNEUMOSCOPE_FORWARDED[id] = true
    end
  end
end
