// Call recordings (RECORD_CALLS): the Blob container `recordings` in the relay's storage account,
// a lifecycle rule that deletes a recording when its conversation expires, and the data role that
// lets the relay's identity (and the developers) write and read recordings with Entra ID, no key.
//
// Retention: Cosmos DB deletes a conversation conversationTtlSeconds after its last write; Blob
// lifecycle management counts whole days since a blob's last modification, so the rule rounds
// the TTL up to days: a recording never goes before its conversation, and at most a day after.
// A recording is last modified when its call ends (its block list committed), as its document is
// last written then: both clocks start together.  0 keeps both forever (no rule).

@description('Storage account of the relay (modules/storage/file-share.bicep makes it).')
param accountName string

@description('Retention: seconds after its last write a conversation is deleted (the Cosmos DB TTL). 0 keeps recordings forever.')
@minValue(0)
param conversationTtlSeconds int = 0

@description('Object id of the relay\'s managed identity: given Storage Blob Data Contributor on the container.')
param relayPrincipalId string

@description('Object ids of developers (people, or the deploying pipeline) given the same role, to run the relay or its commands locally.')
param developerPrincipalIds array = []

// Storage Blob Data Contributor: read, write and delete blobs (the writer stages and commits
// blocks; the admin route reads ranges).
var blobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var secondsPerDay = 86400
var retentionDays = conversationTtlSeconds > 0 ? (conversationTtlSeconds + secondsPerDay - 1) / secondsPerDay : 0

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: accountName
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: 'recordings'
  properties: {
    publicAccess: 'None'
  }
}

resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = if (retentionDays > 0) {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          enabled: true
          name: 'recordings-expire-with-conversations'
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${container.name}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: retentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

resource relayRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(container.id, relayPrincipalId, blobDataContributor)
  scope: container
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
    principalId: relayPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// No principalType: a developer may be a person or the pipeline that deploys (they exist
// already, so the type only speeds up a new identity's first assignment).
resource developerRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for developer in developerPrincipalIds: {
    name: guid(container.id, developer, blobDataContributor)
    scope: container
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
      principalId: developer
    }
  }
]

@description('The relay\'s AZURE_STORAGE_ACCOUNT_URL: the account\'s Blob endpoint.')
output accountUrl string = account.properties.primaryEndpoints.blob
output containerName string = container.name
output retentionDays int = retentionDays
