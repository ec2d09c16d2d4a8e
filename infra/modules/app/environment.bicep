// The Container Apps environment: logs to Log Analytics, and the Azure Files share registered
// as storage the relay's volume mounts at DATA_DIR.

@description('Name of the environment.')
param name string

@description('Azure region of the environment.')
param location string

@description('Tags of the environment.')
param tags object = {}

@description('Name of the Log Analytics workspace that receives the apps\' logs.')
param logAnalyticsName string

@description('Storage account of the relay\'s data share.')
param storageAccountName string

@description('File share mounted at the relay\'s DATA_DIR.')
param shareName string

@description('Name the environment gives the share (the volume\'s storageName).')
param storageName string = 'relay-data'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsName
}

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource managedEnvironment 'Microsoft.App/managedEnvironments@2025-01-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: workspace.properties.customerId
        sharedKey: workspace.listKeys().primarySharedKey
      }
    }
    // The Consumption profile: billed per second of vCPU and memory, by replica.
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
  }
}

resource storage 'Microsoft.App/managedEnvironments/storages@2025-01-01' = {
  parent: managedEnvironment
  name: storageName
  properties: {
    azureFile: {
      accountName: account.name
      accountKey: account.listKeys().keys[0].value
      shareName: shareName
      accessMode: 'ReadWrite'
    }
  }
}

output id string = managedEnvironment.id
output name string = managedEnvironment.name
output defaultDomain string = managedEnvironment.properties.defaultDomain
output storageName string = storage.name
