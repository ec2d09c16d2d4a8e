// The image the relay's Container App runs now, so that re-provisioning (azd provision, or
// azd up after the first deploy) keeps it instead of putting the placeholder back.

@description('Whether the Container App exists already (azd sets SERVICE_RELAY_RESOURCE_EXISTS).')
param exists bool

@description('Name of the Container App.')
param name string

resource app 'Microsoft.App/containerApps@2025-01-01' existing = if (exists) {
  name: name
}

@description('The image of the app\'s first container, or \'\' when the app does not exist yet.')
output image string = exists ? app.properties.template.containers[0].image : ''
