// Log Analytics: the Container Apps environment sends the relay's stdout and stderr here
// (table ContainerAppConsoleLogs_CL).  With LOG_FORMAT=json each line is one JSON object,
// which Log Analytics parses into columns.

@description('Name of the workspace.')
param name string

@description('Azure region of the workspace.')
param location string

@description('Tags of the workspace.')
param tags object = {}

@description('Days logs are kept (30 is included in the ingestion price).')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
  }
}

output id string = workspace.id
output name string = workspace.name
